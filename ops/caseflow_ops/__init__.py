"""caseflow operations: the `caseflowctl` operator CLI and the deploy manifest generator."""
