"""`python -m caseflow_sla` (or `caseflow-sla`): run the service until SIGTERM."""

from caseflow_kit import serve

from .app import SPEC


def main() -> None:
    serve(SPEC)


if __name__ == "__main__":
    main()
