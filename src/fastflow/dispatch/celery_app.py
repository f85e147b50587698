"""The Celery application shared by the server (which only sends) and `fastflow worker`.

At-least-once delivery, chosen on purpose:
- `task_acks_late` + `task_reject_on_worker_lost`: a message is acknowledged only after its
  run ended, so a worker that dies mid-run does not lose it — the broker redelivers it.
- `worker_prefetch_multiplier=1`: a worker reserves one message per free slot, so runs queue
  where capacity is, not behind a busy worker.
- visibility timeout (CELERY_VISIBILITY_TIMEOUT, default 1 h): how long Redis waits before it
  redelivers an unacknowledged message. A run longer than that is redelivered while it still
  runs; that is harmless because a worker executes a run only after claiming it in Redis
  (SET NX), and a claimed run is never executed again — the redelivered copy is dropped.
  Loss of a worker is detected by heartbeats (WORKER_LOST_AFTER), not by redelivery.
"""

from __future__ import annotations

from celery import Celery

from fastflow.settings import Settings


def make_celery(settings: Settings) -> Celery:
    """A Celery app configured from `settings` (broker from CELERY_BROKER_URL or REDIS_URL)."""
    app = Celery("fastflow", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url,
        # Results travel as events over Redis Streams; Celery's result backend is not used.
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=settings.default_queue,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={
            "visibility_timeout": settings.celery_visibility_timeout,
            # Every Celery key under our prefix: installs (and tests) sharing a Redis stay apart.
            "global_keyprefix": f"{settings.redis_prefix}:celery:",
        },
        broker_connection_timeout=3,
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
    )
    return app
