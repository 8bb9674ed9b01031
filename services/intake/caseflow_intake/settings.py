"""Intake settings: the shared ones, plus what intake alone needs."""

from caseflow_kit import KitSettings


class IntakeSettings(KitSettings):
    """No settings of its own yet."""
