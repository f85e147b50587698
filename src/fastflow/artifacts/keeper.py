"""RunFiles: moves a finished run's artifacts (and optionally its log) into the object store.

Object keys: `runs/<run id>/artifacts/<path>`, `runs/<run id>/log.jsonl`,
`runs/<run id>/metrics.jsonl`. Retention removes the `runs/<run id>/` prefix with the run.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

from fastflow.errors import InvalidInputError
from fastflow.events.recorder import RunRecorder
from fastflow.records import Artifact
from fastflow.storage.artifact_store import ArtifactStore
from fastflow.storage.objects import ObjectStore, check_key

log = logging.getLogger(__name__)

_HASH_CHUNK = 1024 * 1024


def run_prefix(run_id: str) -> str:
    return f"runs/{run_id}/"


def artifact_key(run_id: str, path: str) -> str:
    return f"runs/{run_id}/artifacts/{check_key(path)}"


def log_archive_key(run_id: str) -> str:
    return f"runs/{run_id}/log.jsonl"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class RunFiles:
    """The engine's `RunOutputs`: keeps artifacts and archives logs when configured."""

    def __init__(
        self,
        objects: ObjectStore,
        artifacts: ArtifactStore,
        max_artifact_bytes: int,
        archive_logs: bool = False,
    ) -> None:
        self.objects = objects
        self.artifacts = artifacts
        self.max_artifact_bytes = max_artifact_bytes
        self.archive_logs = archive_logs

    def keep_artifacts(self, run_id: str, folder: Path, recorder: RunRecorder) -> list[str]:
        """Store the files under `folder`, record size and sha256; never raises."""
        try:
            return self._keep(run_id, folder, recorder)
        except Exception as exc:
            log.exception("run %s: keeping artifacts failed", run_id)
            recorder.error(f"keeping the run's artifacts failed: {exc}")
            return []
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # moved into the store (or refused)

    def _keep(self, run_id: str, folder: Path, recorder: RunRecorder) -> list[str]:
        if not folder.is_dir():
            return []
        files: list[tuple[str, Path, int]] = []
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder).as_posix()
            # A symlink could point at any file the server can read: never follow one.
            if path.is_symlink():
                recorder.system(f"artifact {name!r} is a symbolic link; not kept")
                continue
            if not path.is_file():
                continue
            try:
                name.encode("utf-8")
                check_key(name)
            except (UnicodeEncodeError, InvalidInputError):
                recorder.system(f"artifact {name!r} has a name that cannot be stored; not kept")
                continue
            files.append((name, path, path.stat().st_size))
        total = sum(size for _, _, size in files)
        if total > self.max_artifact_bytes:
            recorder.error(
                f"artifacts total {total / 1024 / 1024:.1f} MB, over the per-run limit of "
                f"{self.max_artifact_bytes / 1024 / 1024:g} MB (ARTIFACTS_MAX_SIZE_MB); "
                f"none of the {len(files)} file(s) were kept"
            )
            return []
        rows = []
        for name, path, size in files:
            digest = _sha256(path)
            self.objects.put_file(artifact_key(run_id, name), path)
            rows.append(Artifact(run_id=run_id, path=name, size=size, sha256=digest))
        self.artifacts.add_all(rows)
        return [row.path for row in rows]

    def archive_log(self, run_id: str, log_path: Path, metrics_path: Path) -> None:
        """Copy the finished log and metrics to the store (ARCHIVE_LOGS=true); never raises."""
        if not self.archive_logs:
            return
        try:
            if log_path.is_file():
                self.objects.put_file(log_archive_key(run_id), log_path)
            if metrics_path.is_file():
                self.objects.put_file(f"runs/{run_id}/metrics.jsonl", metrics_path)
        except Exception:
            log.exception("run %s: archiving its log failed", run_id)

    def restore_log(self, run_id: str, log_path: Path) -> bool:
        """Bring an archived log back when the local copy is gone; True when restored."""
        if log_path.exists() or not self.archive_logs:
            return False
        key = log_archive_key(run_id)
        if not self.objects.exists(key):
            return False
        tmp = log_path.with_suffix(".restoring")
        self.objects.get_file(key, tmp)
        tmp.replace(log_path)
        return True

    def of_run(self, run_id: str) -> list[Artifact]:
        return self.artifacts.of_run(run_id)

    def open(self, run_id: str, path: str) -> tuple[Artifact, Iterator[bytes]]:
        """One artifact and its bytes; `path` as listed (no `..`, no absolute paths)."""
        check_key(path)
        artifact = self.artifacts.get(run_id, path)
        return artifact, self.objects.iter_bytes(artifact_key(run_id, artifact.path))
