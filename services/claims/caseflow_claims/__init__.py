"""caseflow claims service."""
