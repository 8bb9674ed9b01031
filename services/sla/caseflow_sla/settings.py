"""Sla settings: the shared ones, plus what sla alone needs."""

from pathlib import Path

from pydantic import Field

from caseflow_kit import KitSettings


class SlaSettings(KitSettings):
    policies_file: Path | None = Field(
        default=None, description="SLA policies YAML; the packaged data/policies.yaml when unset"
    )
    qa_table_file: Path | None = Field(
        default=None, description="QA points per missed duty (YAML); the packaged data/qa_table.yaml when unset"
    )
    timer_poll_ms: int = Field(
        default=200, ge=10, le=10_000, description="Longest sleep of the timer loop (other replicas arm timers too)"
    )
    timer_batch: int = Field(default=500, ge=1, le=10_000, description="Due timers fired per unit of work")
