"""Building a run's `RunSpec`: one function for the server's engine and for remote workers.

Both sides must give a run the same environment, folders and limits, or a pipeline would
behave differently depending on where it ran; this is the single place that decides them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastflow.pipelines.discovery import PipelineDefinition
from fastflow.runs.environment import build_run_env
from fastflow.runs.ports import RunSpec
from fastflow.secrets.service import RunSecrets, SecretService
from fastflow.storage.run_store import RunStore


def build_run_spec(
    *,
    run_id: str,
    pipeline: PipelineDefinition,
    pipeline_name: str,
    attempt: int,
    parameters: Mapping[str, str],
    run_secrets: RunSecrets,
    work_root: Path,
    metrics_path: Path,
    timeout: float | None,
    elapsed: float = 0.0,
) -> RunSpec:
    """The spec of run `run_id` working under `work_root/{run_id}`.

    `timeout` is the pipeline's (or the default) limit in seconds; `elapsed` shortens it for a
    run that is resumed after it already ran that long.
    """
    work_dir = work_root / run_id
    artifacts = work_dir / "artifacts"
    return RunSpec(
        run_id=run_id,
        pipeline=pipeline,
        env=build_run_env(
            run_id=run_id,
            pipeline=pipeline_name,
            attempt=attempt,
            artifacts_dir=artifacts,
            parameters=parameters,
            extra=run_secrets.env,
        ),
        work_dir=work_dir / "work",
        artifacts_dir=artifacts,
        metrics_path=metrics_path,
        timeout=None if timeout is None else max(0.0, timeout - elapsed),
        secret_values=run_secrets.secret_values,
    )


def secrets_for_run(
    secrets: SecretService | None,
    runs: RunStore,
    run_id: str,
    parameters: Mapping[str, str],
    wanted: list[str] | None,
) -> RunSecrets:
    """The store's entries for a run (all, or the `wanted` secrets plus every parameter).

    Records the environment the run sees in its row, with secret values as `***`. Raises
    InvalidInputError naming a wanted secret that is not stored.
    """
    if secrets is None:
        return RunSecrets()
    found = secrets.for_run(wanted)
    if found.env:
        # A run's own parameter of the same name wins over the store (build_run_env order).
        shown = found.masker().mask_mapping(
            {**found.env, **parameters}, found.secret_keys - set(parameters)
        )
        runs.update(run_id, env_vars=shown)
    return found
