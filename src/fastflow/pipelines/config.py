"""pipeline.json: a pipeline's optional metadata, validated with clear messages."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A module to preload: dotted Python identifiers ("pandas", "sklearn.linear_model").
_MODULE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


def parse_size(value: str | int | float) -> int:
    """'512m' / '1g' / '1.5g' / 1048576 → bytes (Docker's notation, binary units)."""
    if isinstance(value, bool):
        raise ValueError("a memory size must be a number or a string like '512m' or '1g'")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError("a memory size must be positive")
        return int(value)
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a memory size; use e.g. '512m' or '1g'")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size <= 0:
        raise ValueError("a memory size must be positive")
    return size


class ParameterSpec(BaseModel):
    """A declared parameter: its default and what it is for."""

    model_config = ConfigDict(extra="forbid")

    default: Any = None
    description: str | None = None
    required: bool = False
    type: Literal["string", "integer", "number", "boolean"] = "string"


class PipelineConfig(BaseModel):
    """The keys pipeline.json may hold; unknown keys are an error (typos must not vanish)."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    cpu_hard_limit: float | None = Field(default=None, gt=0)
    mem_hard_limit: str | int | None = None
    cpu_soft_limit: float | None = Field(default=None, gt=0)
    mem_soft_limit: str | int | None = None
    timeout: float | None = Field(default=None, gt=0)
    health_timeout: float | None = Field(default=None, gt=0)
    retries: int | None = Field(default=None, ge=0, le=100)
    enabled: bool = True
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    executor: Literal["local", "docker"] | None = None
    queue: str | None = None
    secrets: list[str] | None = None
    tags: list[str] = Field(default_factory=list)
    # What a schedule tick does while a run of this pipeline is still going.
    overlap: Literal["skip", "queue"] = "skip"
    # false: the run may not open or accept TCP connections (enforced by the sandbox).
    network: bool = True
    # Modules a warm interpreter imports before it forks runs (FASTFLOW_WARM_START).
    preload: list[Annotated[str, StringConstraints(pattern=_MODULE, max_length=200)]] = Field(
        default_factory=list, max_length=200
    )

    @field_validator("mem_hard_limit", "mem_soft_limit")
    @classmethod
    def _size(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            parse_size(value)
        return value

    @field_validator("parameters", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # {"name": "default"} is shorthand for {"name": {"default": "default"}}.
        if isinstance(value, dict):
            return {k: v if isinstance(v, dict) else {"default": v} for k, v in value.items()}
        return value

    @field_validator("parameters")
    @classmethod
    def _names(cls, value: dict[str, ParameterSpec]) -> dict[str, ParameterSpec]:
        for name in value:
            if not ENV_NAME.match(name):
                raise ValueError(
                    f"parameter name {name!r} must be a valid environment variable name"
                )
        return value

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not ENV_NAME.match(name):
                raise ValueError(f"secret name {name!r} must be a valid environment variable name")
        return value

    @property
    def mem_hard_limit_bytes(self) -> int | None:
        return None if self.mem_hard_limit is None else parse_size(self.mem_hard_limit)

    @property
    def mem_soft_limit_bytes(self) -> int | None:
        return None if self.mem_soft_limit is None else parse_size(self.mem_soft_limit)
