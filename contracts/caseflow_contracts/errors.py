"""The root of caseflow's own exceptions, and the one refusal with a code.

A `Refusal` is an input that is valid as bytes but cannot apply (a station updating a case it does not
hold, a claim that is not in a state to approve, bytes that are not an event). Its `code` is short and
machine-readable: the consumer dead-letters the input with it, the HTTP edge answers with it. Domain code
raises it without importing the runtime.
"""

from __future__ import annotations


class CaseflowError(Exception):
    """Root of caseflow's own exceptions."""


class Refusal(CaseflowError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
