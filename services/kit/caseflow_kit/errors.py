"""The runtime's exceptions: caseflow's root and its one refusal come from the contracts package, so that
pure domain code can raise them without importing the runtime."""

from __future__ import annotations

from caseflow_contracts.errors import CaseflowError, Refusal


class RecordedRefusal(Refusal):
    """A refusal the handler has written down (a note on the aggregate, an event telling others what it
    refused): the input is dead-lettered like any refusal, and what the handler wrote commits with the
    dead letter instead of being discarded."""


__all__ = ["CaseflowError", "RecordedRefusal", "Refusal"]
