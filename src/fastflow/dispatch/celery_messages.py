"""The task message the server sends a worker: everything needed to run one run, no paths.

Parameters travel in the message (they are not secret: they are shown in the UI). Secrets do
not: the worker that claims a run receives them sealed with its claim (`sealed_secrets.py`),
or fetches them from the server over HTTP(S) with its worker token at start
(`dispatch/remote_runs.py`); the broker's messages never carry them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TASK_NAME = "fastflow.run"


class RunMessage(BaseModel):
    """One run to execute remotely."""

    model_config = ConfigDict(extra="ignore")

    run_id: str = Field(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")
    pipeline: str = Field(min_length=1, max_length=200)
    bundle: str = Field(pattern=r"^[0-9a-f]{64}$")
    attempt: int = 1
    parameters: dict[str, Any] = Field(default_factory=dict)
    timeout: float | None = None
    executor: str = "local"
    # When the server sent it (epoch seconds): the start of the run's stage timings.
    sent_at: float | None = None
