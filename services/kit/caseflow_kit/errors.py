"""The runtime's exceptions: caseflow's root and its one refusal come from the contracts package, so that
pure domain code can raise them without importing the runtime."""

from __future__ import annotations

from caseflow_contracts.errors import CaseflowError, Refusal

__all__ = ["CaseflowError", "Refusal"]
