"""What routing's handlers need besides the unit of work."""

from __future__ import annotations

from dataclasses import dataclass

from .directory import DirectoryHolder


@dataclass
class RoutingDeps:
    directory: DirectoryHolder
