"""A run's files on this server: its event log and metrics, where they live, reading them back.

The one owner of the paths: the lifecycle writes through it, the API and the console read
through it (an archived log is brought back from the object store first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastflow.events.fanout import EventFanout
from fastflow.events.metrics_file import read_metrics
from fastflow.events.recorder import RunRecorder
from fastflow.runs.ports import RunOutputs


class RunLogs:
    def __init__(
        self,
        logs_dir: Path,
        fanout: EventFanout,
        max_log_bytes: int | None = None,
        outputs: RunOutputs | None = None,
    ) -> None:
        """`max_log_bytes`: LOG_MAX_SIZE_MB; `outputs`: where archived logs are kept."""
        self.logs_dir = logs_dir
        self.fanout = fanout
        self.max_log_bytes = max_log_bytes
        self.outputs = outputs

    def log_path(self, run_id: str) -> Path:
        return self.logs_dir / f"{run_id}.log"

    def metrics_path(self, run_id: str) -> Path:
        return self.logs_dir / f"{run_id}_metrics.jsonl"

    def recorder(self, run_id: str, capped: bool = True) -> RunRecorder:
        """A recorder appending to the run's log and fanning out to its viewers; `capped`
        holds it to LOG_MAX_SIZE_MB (a run executing here), else it writes what it is given
        (the few events that settle a run)."""
        return RunRecorder(
            run_id,
            self.log_path(run_id),
            self.fanout,
            max_log_bytes=self.max_log_bytes if capped else None,
        )

    def readable_log(self, run_id: str) -> Path:
        """The log's path, brought back from the archive first when only the archive has it."""
        path = self.log_path(run_id)
        if self.outputs is not None:
            self.outputs.restore_log(run_id, path)
        return path

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        return list(read_metrics(self.metrics_path(run_id)))
