"""caseflow sla service."""
