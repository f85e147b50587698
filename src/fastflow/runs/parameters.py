"""A run's parameters: declared defaults from pipeline.json, overridden by what the caller gave."""

from __future__ import annotations

import json
from typing import Any

from fastflow.errors import InvalidInputError
from fastflow.pipelines.config import ENV_NAME, PipelineConfig

MAX_VALUE_LENGTH = 64 * 1024


def _as_text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        text = str(value)
    elif isinstance(value, list | dict):
        text = json.dumps(value)
    elif value is None:
        text = ""
    else:
        raise InvalidInputError(f"parameter {name!r}: unsupported value type")
    if "\x00" in text:
        raise InvalidInputError(f"parameter {name!r}: value must not contain NUL bytes")
    if len(text) > MAX_VALUE_LENGTH:
        raise InvalidInputError(f"parameter {name!r}: value longer than {MAX_VALUE_LENGTH} chars")
    return text


def resolve_parameters(config: PipelineConfig, given: dict[str, Any]) -> dict[str, str]:
    """Merge defaults and given values into environment-ready strings, or InvalidInputError."""
    for name in given:
        if not ENV_NAME.match(name):
            raise InvalidInputError(
                f"parameter name {name!r} is not allowed: use letters, digits and '_', "
                "not starting with a digit"
            )
        if name.upper().startswith("FASTFLOW_"):
            raise InvalidInputError(f"parameter name {name!r}: the FASTFLOW_ prefix is reserved")
    undeclared = sorted(set(given) - set(config.parameters))
    if config.parameters and undeclared:
        # A pipeline that declares its parameters says what it takes: a typo (`DAY` for
        # `DAYS`) must not start a run that silently uses the default.
        names = ", ".join(repr(n) for n in undeclared)
        declared = ", ".join(config.parameters)
        raise InvalidInputError(
            f"{'parameter' if len(undeclared) == 1 else 'parameters'} {names} not declared "
            f"by this pipeline; it takes: {declared}"
        )
    resolved: dict[str, str] = {}
    for name, spec in config.parameters.items():
        if name in given:
            continue
        if spec.required and spec.default is None:
            raise InvalidInputError(f"parameter {name!r} is required")
        if spec.default is not None:
            resolved[name] = _as_text(name, spec.default)
    for name, value in given.items():
        resolved[name] = _as_text(name, value)
    return resolved
