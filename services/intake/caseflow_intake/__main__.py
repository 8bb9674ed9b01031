"""`python -m caseflow_intake` (or `caseflow-intake`): run the service until SIGTERM."""

from caseflow_kit import serve

from .app import SPEC


def main() -> None:
    serve(SPEC)


if __name__ == "__main__":
    main()
