"""`fastflow_warm_*` and `fastflow_run_starts` for /metrics, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fastflow.executors.warm.pool import WarmPool


class WarmCollector(Collector):
    def __init__(self, pool: WarmPool) -> None:
        self._pool = pool

    def collect(self) -> Iterator[Metric]:
        procs = self._pool.processes()
        yield GaugeMetricFamily(
            "fastflow_warm_processes", "Warm interpreters running now", value=len(procs)
        )
        rss = GaugeMetricFamily(
            "fastflow_warm_process_rss_bytes",
            "Memory (RSS) each warm interpreter holds",
            labels=["pid", "preload"],
        )
        for proc in procs:
            if proc["rss_bytes"] is not None:
                rss.add_metric([str(proc["pid"]), ",".join(proc["preload"])], proc["rss_bytes"])
        yield rss
        if self._pool.max_memory_bytes is not None:
            yield GaugeMetricFamily(
                "fastflow_warm_memory_limit_bytes",
                "The memory all warm interpreters may hold together (FASTFLOW_WARM_MAX_MEMORY_MB)",
                value=self._pool.max_memory_bytes,
            )
        starts = CounterMetricFamily(
            "fastflow_run_starts",
            "Local runs started, by how: forked from a warm interpreter, or cold",
            labels=["start"],
        )
        counts = self._pool.start_counts()
        for start in ("warm", "cold"):
            starts.add_metric([start], counts.get(start, 0))
        yield starts
