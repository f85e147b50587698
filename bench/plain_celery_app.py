"""The floor for the Celery design: a plain Celery task that runs the same script."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from celery import Celery

_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
app = Celery("plain", broker=_url, backend=_url)
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    broker_transport_options={"global_keyprefix": os.environ.get("BENCH_PREFIX", "bench:")},
    result_backend_transport_options={"global_keyprefix": os.environ.get("BENCH_PREFIX", "bench:")},
)


@app.task(name="plain.run_script")
def run_script(path: str) -> tuple[float, float]:
    """Run the script; when the task started and when the script finished (epoch seconds)."""
    started = time.time()
    subprocess.run([sys.executable, path], check=True, capture_output=True)
    return started, time.time()
