"""How a run's end is written down: the one place the `complete` event is assembled.

Every way a run ends — executed here, on a worker, cancelled while PENDING, lost with a
server — records its outcome through `record_outcome`, so the log's last event has the same
shape whoever wrote it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastflow.events.recorder import RunRecorder
from fastflow.models import FAILURE_MESSAGES, RunStatus
from fastflow.runs.ports import ExecutionResult


def failure_message(result: ExecutionResult, recorder: RunRecorder) -> str | None:
    """The run's error as viewers see it: its own words or the failure kind's, masked."""
    message = result.error
    if result.failure_kind is not None and not message:
        message = FAILURE_MESSAGES[result.failure_kind]
    return recorder.filter_text(message) if message else None


def record_outcome(
    recorder: RunRecorder,
    result: ExecutionResult,
    artifacts: Callable[[], list[str]] = list,
    *,
    say_error: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """Write the run's end into its log: an `error` line when it failed (`say_error`), then
    its artifacts (kept by `artifacts()`), then `complete`. Returns the `complete` fields."""
    message = failure_message(result, recorder)
    success = result.status is RunStatus.SUCCESS
    if message and not success and say_error:
        recorder.error(message)
    complete: dict[str, Any] = {
        "status": result.status.value,
        "success": success,
        "exit_code": result.exit_code,
        "failure_kind": result.failure_kind.value if result.failure_kind else None,
        "error": message if not success else None,
        "artifacts": artifacts(),
        **extra,
    }
    recorder.complete(**complete)
    return complete
