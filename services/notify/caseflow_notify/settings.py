"""Notify settings: the shared ones, plus what notify alone needs."""

from caseflow_kit import KitSettings


class NotifySettings(KitSettings):
    """No settings of its own yet."""
