"""Running pipelines through the local executor, warm or cold, for the warm-start tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastflow.events.log import read_events
from fastflow.events.recorder import RunRecorder
from fastflow.executors.local import LocalExecutor
from fastflow.executors.warm.pool import WarmPool
from fastflow.pipelines.discovery import PipelineCatalog
from fastflow.records import new_id
from fastflow.runs.ports import ExecutionResult, RunControl, RunSpec
from fastflow.runs.spec import build_run_spec
from fastflow.secrets.service import RunSecrets
from fastflow.services import Services, build_services
from fastflow.settings import Settings


@dataclass
class Harness:
    """Runs pipelines of `settings.pipelines_dir` one by one, as the server would."""

    executor: LocalExecutor
    settings: Settings
    mode: str
    services: Services

    def spec(self, pipeline: str, timeout: float | None = None) -> RunSpec:
        definition = PipelineCatalog(self.settings.pipelines_dir).get(pipeline)
        run_id = new_id()
        secret_file = self.settings.data_dir / "secret_key"
        return build_run_spec(
            run_id=run_id,
            pipeline=definition,
            pipeline_name=pipeline,
            attempt=1,
            parameters={"WHO": "semantics", "SECRET_FILE": str(secret_file)},
            run_secrets=RunSecrets(),
            work_root=self.settings.work_dir,
            metrics_path=self.settings.logs_dir / f"{run_id}_metrics.jsonl",
            timeout=timeout,
        )

    async def run(
        self,
        pipeline: str,
        timeout: float | None = None,
        control: RunControl | None = None,
        spec: RunSpec | None = None,
    ) -> tuple[ExecutionResult, list[dict[str, Any]], RunSpec]:
        spec = spec or self.spec(pipeline, timeout)
        recorder = RunRecorder(spec.run_id, self.settings.logs_dir / f"{spec.run_id}.log")
        result = await asyncio.wait_for(
            self.executor.execute(spec, recorder, control or RunControl()), timeout=240
        )
        recorder.close()
        events = [e for e in read_events(recorder.log_path) if e["type"] == "log"]
        return result, events, spec

    @property
    def pool(self) -> WarmPool:
        assert self.executor.warm is not None
        return self.executor.warm


def lines(events: list[dict[str, Any]], stream: str) -> list[str]:
    return [e["line"] for e in events if e.get("stream") == stream]


def system_lines(events: list[dict[str, Any]]) -> list[str]:
    return lines(events, "system")


def write_pipelines(
    pipelines_dir: Path, pipelines: dict[str, tuple[str, dict[str, Any] | None]]
) -> None:
    """Folder pipelines: `name/main.py` and, when given, `name/pipeline.json`."""
    for name, (code, config) in pipelines.items():
        folder = pipelines_dir / name
        folder.mkdir(exist_ok=True)
        (folder / "main.py").write_text(code)
        if config is not None:
            (folder / "pipeline.json").write_text(json.dumps(config))


def serve(make_settings: Callable[..., Settings], mode: str, **overrides: Any) -> Iterator[Harness]:
    """The local executor as the server wires it, warm ("warm") or not ("cold")."""
    settings = make_settings(FASTFLOW_WARM_START="auto" if mode == "warm" else "off", **overrides)
    services = build_services(settings)
    executor = services.executors["local"]
    assert isinstance(executor, LocalExecutor)
    try:
        yield Harness(executor, settings, mode, services)
    finally:
        executor.close()
        services.warm.close()
        services.db.dispose()
