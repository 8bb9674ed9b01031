"""Routing settings: the shared ones, plus what routing alone needs."""

from caseflow_kit import KitSettings


class RoutingSettings(KitSettings):
    """No settings of its own yet."""
