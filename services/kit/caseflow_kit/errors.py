"""The runtime's exceptions that handlers raise on purpose."""

from __future__ import annotations


class CaseflowError(Exception):
    """Root of caseflow's own exceptions."""


class Rejected(CaseflowError):
    """A valid event that cannot be applied (e.g. a station updating a case it does not hold).

    It goes to the dead-letter topic at once, with `code` and `message` as the reason; no retry.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
