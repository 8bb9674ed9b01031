"""Claims settings: the shared ones, plus what claims alone needs."""

from caseflow_kit import KitSettings


class ClaimsSettings(KitSettings):
    """No settings of its own yet."""
