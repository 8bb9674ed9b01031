"""Routing settings: the shared ones, plus the station directory file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from caseflow_kit import KitSettings

DEFAULT_DIRECTORY = Path(__file__).parent / "data" / "stations.yaml"


class RoutingSettings(KitSettings):
    directory_path: Path = Field(
        default=DEFAULT_DIRECTORY, description="Station directory (YAML or JSON); env CASEFLOW_DIRECTORY_PATH"
    )
    directory_poll_seconds: float = Field(
        default=10.0, gt=0, description="How often the directory file is checked for changes"
    )
