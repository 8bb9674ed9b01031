"""Sla settings: the shared ones, plus what sla alone needs."""

from caseflow_kit import KitSettings


class SlaSettings(KitSettings):
    """No settings of its own yet."""
