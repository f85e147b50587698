"""Recovery: settle the runs a previous server left RUNNING, or follow them again.

Runs that finished while no server was there are recorded from their log; runs whose
executor still has them (a supervisor, a container) are re-attached and followed to their
end; the rest are stopped and settled as LOST, in the words of their executor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from pathlib import Path

from fastflow.events import types as ev
from fastflow.events.log import read_events
from fastflow.events.recorder import RunRecorder
from fastflow.models import RunStatus
from fastflow.pipelines.discovery import PipelineDefinition
from fastflow.records import Run
from fastflow.runs.engine import RunEngine
from fastflow.runs.ports import ExecutionResult, Executor, RunControl, Ticket
from fastflow.runs.settlement import Settlement

log = logging.getLogger(__name__)


class Recovery:
    def __init__(
        self, engine: RunEngine, settlement: Settlement, executors: Mapping[str, Executor]
    ) -> None:
        self.engine = engine
        self.settlement = settlement
        self.executors = executors
        self._resumed: dict[str, asyncio.Task[None]] = {}

    async def recover(self) -> int:
        """Settle or re-attach every RUNNING run nobody here executes; how many there were."""
        runs = await asyncio.to_thread(self.engine.runs.with_status, RunStatus.RUNNING)
        orphans = [r for r in runs if not self.engine.executes(r.id) and r.id not in self._resumed]
        handles: dict[str, dict[str, str]] = {}
        for name, executor in self.executors.items():
            ids = [r.id for r in orphans if r.executor == name]
            handles[name] = await executor.reattachable(ids) or {}
        for run in orphans:
            handle = handles.get(run.executor, {}).get(run.id)
            if handle is not None and not await asyncio.to_thread(self._finished_in_log, run):
                self._resume(run, handle)
            else:
                await asyncio.to_thread(self._recover_one, run)
        return len(orphans)

    def _finished_in_log(self, run: Run) -> bool:
        return self._complete_in_log(run) is not None

    def _complete_in_log(self, run: Run) -> dict[str, object] | None:
        path = self.engine.logs.log_path(run.id)
        found = next(iter(read_events(path, types=frozenset({ev.COMPLETE}))), None)
        return dict(found) if found is not None else None

    def _resume(self, run: Run, handle: str) -> None:
        task = asyncio.create_task(self._resume_run(run, handle), name=f"resume-{run.id}")
        self._resumed[run.id] = task
        task.add_done_callback(lambda _t: self._resumed.pop(run.id, None))

    async def _resume_run(self, run: Run, handle: str) -> None:
        control = RunControl(outlives_server=True)
        recorder = await asyncio.to_thread(self.engine.logs.recorder, run.id)
        self.engine.track_progress(run.id, recorder)
        log.info(
            "run %s: re-attaching to %s (%s)",
            run.id,
            handle,
            run.executor,
            extra={"run_id": run.id, "action": "reattach"},
        )
        reattaching = self._reattach(run, handle, recorder, control)
        await self.engine.follow(run, recorder, reattaching, "re-attaching", control)

    async def _reattach(
        self, run: Run, handle: str, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult:
        executor = self.executors[run.executor]
        execution = self.engine.execution
        ticket = Ticket.of(run)
        try:
            pipeline = await asyncio.to_thread(execution.place.pipeline, ticket)
        except Exception:
            # The pipeline's files are gone; supervise the run with default limits.
            pipeline = PipelineDefinition(
                run.pipeline_name, "folder", Path(run.pipeline_name), Path("main.py")
            )
        # The run's process (or container) still holds the secrets it started with; the
        # lines it prints from here on are masked like before the restart.
        run_secrets = await asyncio.to_thread(execution.secrets, ticket, pipeline, recorder)
        started = run.started_at.timestamp() if run.started_at else time.time()
        spec = execution.spec(ticket, pipeline, run_secrets, elapsed=time.time() - started)
        return await executor.reattach(handle, spec, recorder, control)

    def _recover_one(self, run: Run) -> None:
        done = self._complete_in_log(run)
        if done is not None:
            log.info(
                "run %s: finished before the restart; recording it",
                run.id,
                extra={"run_id": run.id, "action": "recover"},
            )
            self.settlement.settle(run, RunStatus(str(done["status"])), done)
            return
        executor = self.executors.get(run.executor)
        message = (
            executor.abandon(run)
            if executor is not None
            else "the server stopped while this run was running, and its executor "
            f"{run.executor!r} is not available on this server"
        )
        self.settlement.settle_failed(run, message)

    async def stop(self) -> None:
        """Stop re-attached runs (the dispatcher stops the runs it started)."""
        for run_id, task in list(self._resumed.items()):
            if self.engine.keeps_on_shutdown(run_id):
                task.cancel()  # stop following it; the next server re-attaches
            else:
                self.engine.request_cancel(run_id, "the server shut down")
        if self._resumed:
            await asyncio.wait(list(self._resumed.values()), timeout=30)
