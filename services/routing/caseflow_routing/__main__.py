"""`python -m caseflow_routing` (or `caseflow-routing`): run the service until SIGTERM."""

from caseflow_kit import serve

from .app import SPEC


def main() -> None:
    serve(SPEC)


if __name__ == "__main__":
    main()
