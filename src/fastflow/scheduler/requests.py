"""What a caller sends to create or change a schedule (the API and the console alike)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fastflow.models import TriggerType


def _text(value: Any) -> Any:
    # An interval may be sent as a number; it is stored as text like a cron expression.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipeline_name: str = Field(min_length=1, max_length=200)
    trigger_type: TriggerType
    trigger_value: str = Field(
        min_length=1, max_length=200, description="cron expression, or seconds for INTERVAL"
    )
    enabled: bool = True
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=200)
    timezone: str = Field(default="UTC", min_length=1, max_length=64)
    overlap_policy: Literal["skip", "queue"] | None = Field(
        default=None, description="None follows the pipeline's `overlap` (default skip)"
    )
    misfire_grace_seconds: int = Field(default=300, ge=0, le=7 * 86400)

    _coerce = field_validator("trigger_value", mode="before")(_text)


class ScheduleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipeline_name: str | None = Field(default=None, min_length=1, max_length=200)
    trigger_type: TriggerType | None = None
    trigger_value: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None
    parameters: dict[str, Any] | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    overlap_policy: Literal["skip", "queue"] | None = None
    misfire_grace_seconds: int | None = Field(default=None, ge=0, le=7 * 86400)

    _coerce = field_validator("trigger_value", mode="before")(_text)
