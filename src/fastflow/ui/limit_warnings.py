"""Soft-limit warnings for the pipeline page: what recent runs used against the pipeline's
soft and hard limits (pipeline.json), read from their metrics samples.

`warnings` is a pure function of the config, the runs and their samples, so it is tested
without a server; `load` reads the samples of a pipeline's latest finished runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastflow.pipelines.config import PipelineConfig
from fastflow.records import Run

# "Near" a hard limit or the timeout: at or above this share of it.
NEAR = 0.8
_MB = 1024 * 1024


def _peak(samples: Sequence[Mapping[str, Any]], key: str) -> float:
    values = [float(s[key]) for s in samples if isinstance(s.get(key), int | float)]
    return max(values, default=0.0)


def warnings(
    config: PipelineConfig,
    runs: Sequence[Run],
    samples: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[str]:
    """One sentence per limit the recent runs went over or came near."""
    out: list[str] = []
    finished = [r for r in runs if r.finished_at is not None]
    if not finished:
        return out
    n = len(finished)
    ram = {r.id: _peak(samples.get(r.id, ()), "ram_mb") for r in finished}
    cpu = {r.id: _peak(samples.get(r.id, ()), "cpu_percent") for r in finished}
    top_ram = max(ram.values(), default=0.0)
    if config.mem_soft_limit and (soft := config.mem_soft_limit_bytes):
        over = [rid for rid, peak in ram.items() if peak * _MB > soft]
        if over:
            out.append(
                f"{len(over)} of the last {n} runs went over the RAM soft limit "
                f"({config.mem_soft_limit}); the highest peak was {top_ram:.0f} MB."
            )
    if config.cpu_soft_limit:
        over = [rid for rid, peak in cpu.items() if peak > config.cpu_soft_limit * 100]
        if over:
            out.append(
                f"{len(over)} of the last {n} runs went over the CPU soft limit "
                f"({config.cpu_soft_limit:g} cores); the highest was "
                f"{max(cpu.values()) / 100:.2f} cores."
            )
    if (hard := config.mem_hard_limit_bytes) and top_ram * _MB >= NEAR * hard:
        out.append(
            f"Recent runs peaked at {top_ram:.0f} MB, {top_ram * _MB / hard:.0%} of the RAM "
            f"hard limit ({config.mem_hard_limit}): a little more and they are killed."
        )
    oom = sum(1 for r in finished if r.failure_kind == "OOM")
    if oom:
        out.append(f"{oom} of the last {n} runs were killed for using too much memory.")
    if config.timeout:
        took = [
            (r.finished_at - r.started_at).total_seconds()
            for r in finished
            if r.started_at and r.finished_at
        ]
        longest = max(took, default=0.0)
        timed_out = sum(1 for r in finished if r.status == "TIMED_OUT")
        if timed_out:
            out.append(f"{timed_out} of the last {n} runs hit the timeout ({config.timeout:g} s).")
        elif longest >= NEAR * config.timeout:
            out.append(
                f"The longest recent run took {longest:.0f} s, {longest / config.timeout:.0%} "
                f"of the timeout ({config.timeout:g} s)."
            )
    return out
