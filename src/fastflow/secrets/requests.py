"""What a caller sends to create or change a stored secret or parameter."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fastflow.secrets.service import KEY_PATTERN, MAX_VALUE_LENGTH


class SecretCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=KEY_PATTERN, description="an environment variable name")
    value: str = Field(max_length=MAX_VALUE_LENGTH)
    is_secret: bool = Field(default=True, description="false: a plain parameter, shown to all")


class SecretUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str | None = Field(default=None, max_length=MAX_VALUE_LENGTH)
    is_secret: bool | None = None
