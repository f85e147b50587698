"""A run's process watched in threads of this process (no supervisor): tests, the stub."""

from __future__ import annotations

import asyncio

from fastflow.events.recorder import RunRecorder
from fastflow.executors.process_run import ProcessJob, ProcessOutcome, ProcessRun
from fastflow.runs.ports import RunControl


async def run_inline(job: ProcessJob, recorder: RunRecorder, control: RunControl) -> ProcessOutcome:
    """Start `job`, forward a cancel from `control`, and wait for the outcome."""
    loop = asyncio.get_running_loop()

    def started(pid: int) -> None:
        if control.on_started is not None:
            loop.call_soon_threadsafe(control.on_started, pid)

    run = ProcessRun(job, recorder, on_started=started)

    async def forward_cancel() -> None:
        await control.cancel_requested.wait()
        run.cancel(control.cancel_reason)

    canceller = asyncio.create_task(forward_cancel())
    try:
        return await asyncio.to_thread(run.run)
    finally:
        canceller.cancel()
