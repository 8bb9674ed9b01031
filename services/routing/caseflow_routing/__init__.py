"""caseflow routing service."""
