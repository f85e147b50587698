"""`fastflow worker`: starts a Celery worker that executes runs dispatched by a server."""

from __future__ import annotations

import logging

from fastflow.dispatch.celery_app import make_celery
from fastflow.dispatch.celery_messages import TASK_NAME
from fastflow.settings import Settings
from fastflow.worker.execute import run_task
from fastflow.worker.runtime import WorkerRuntime

log = logging.getLogger(__name__)


def run_worker(settings: Settings, concurrency: int, queues: list[str]) -> None:
    """Consume `queues` with `concurrency` runs at once until stopped (blocks)."""
    runtime = WorkerRuntime(settings, queues, concurrency)
    app = make_celery(settings)

    # Threads, not prefork: a run is an async supervisor around a child process, so a
    # thread per run costs nothing, and all runs of a worker share one heartbeat; when
    # the worker dies, every run it held stops beating with it.
    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
    def run(self: object, message: dict[str, object]) -> str:
        return run_task(runtime, message)

    runtime.start()
    log.info("worker %s: queues %s, concurrency %d", runtime.id, ",".join(queues), concurrency)
    try:
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency}",
                f"--queues={','.join(queues)}",
                f"--hostname={runtime.id.replace(':', '-')}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
            ]
        )
    finally:
        runtime.stop()
