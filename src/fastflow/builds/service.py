"""BuildService: accept an uploaded source, keep it, run it; re-run it.

An upload is checked and unpacked before anything is stored, so a bad upload leaves nothing
behind; `BuildSource` keeps it and gives it to runs.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastflow.builds.source import BuildSource, upload_source
from fastflow.builds.validation import check_upload, upload_kind
from fastflow.errors import ConflictError, NotFoundError
from fastflow.models import Trigger
from fastflow.pipelines.discovery import (
    MAX_NAME_LENGTH,
    PipelineCatalog,
    check_name,
)
from fastflow.records import Run, Upload, new_id
from fastflow.runs.parameters import resolve_parameters
from fastflow.runs.service import RunService
from fastflow.storage.objects import ObjectStore
from fastflow.storage.upload_store import UploadStore

_MB = 1024 * 1024


@dataclass(frozen=True)
class Build:
    upload: Upload
    run: Run


def default_name(filename: str) -> str:
    """A pipeline name from an upload's file name: `my job.zip` → `my_job`."""
    stem = Path(filename.replace("\\", "/")).name.rsplit(".", 1)[0]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem).lstrip(".-")[:MAX_NAME_LENGTH]
    return name or "build"


class BuildService:
    def __init__(
        self,
        source: BuildSource,
        uploads: UploadStore,
        objects: ObjectStore,
        catalog: PipelineCatalog,
        run_service: RunService,
    ) -> None:
        self.source = source
        self.uploads = uploads
        self.objects = objects
        self.catalog = catalog
        self.run_service = run_service
        self.limits = source.limits
        self.root = source.root

    def incoming_path(self) -> Path:
        """A fresh path for an upload's bytes while they are checked."""
        return self.source.incoming_path()

    def accept(
        self,
        filename: str,
        saved: Path,
        name: str | None = None,
        parameters: dict[str, Any] | None = None,
        user: str | None = None,
    ) -> Build:
        """Check, store and start an upload saved at `saved` (which this consumes)."""
        staging = saved.with_name(saved.name + ".d")
        try:
            kind = upload_kind(filename)
            name = check_name(name) if name else default_name(filename)
            self._refuse_repository_name(name)
            checked = check_upload(filename, saved, self.limits)
            pipeline = self.source.unpack(saved, checked, staging, name)
            params = resolve_parameters(pipeline.config, parameters or {})
            upload = Upload(
                id=new_id(),
                name=name,
                filename=filename[:255],
                kind=kind,
                size=saved.stat().st_size,
                sha256=_sha256(saved),
                source_key="",
                uploaded_by=user,
            )
            upload.source_key = f"uploads/{upload.id}/source.{kind}"
            self.objects.put_file(upload.source_key, saved)
            self.uploads.create(upload)
            os.replace(staging, self.root / upload.id)
            pipeline = self.source.definition(upload)
            run = self.run_service.start_definition(
                pipeline, params, Trigger.API, user, source=upload_source(upload.id)
            )
            return Build(upload, run)
        finally:
            saved.unlink(missing_ok=True)
            shutil.rmtree(staging, ignore_errors=True)

    def rerun(
        self, upload_id: str, parameters: dict[str, Any] | None = None, user: str | None = None
    ) -> Run:
        """Start the stored upload again (its source is unchanged)."""
        upload = self.uploads.get(upload_id)
        pipeline = self.source.resolve_upload(upload)
        if not pipeline.valid:
            raise ConflictError(f"upload {upload_id} is invalid: {pipeline.error}")
        params = resolve_parameters(pipeline.config, parameters or {})
        return self.run_service.start_definition(
            pipeline, params, Trigger.API, user, source=upload_source(upload.id)
        )

    def _refuse_repository_name(self, name: str) -> None:
        try:
            self.catalog.get(name)
        except NotFoundError:
            return
        raise ConflictError(
            f"a pipeline named {name!r} exists in PIPELINES_DIR; give the build another 'name'"
        )

    def page(self, limit: int, offset: int) -> tuple[list[Upload], int]:
        """A page of uploads, newest first, and how many there are."""
        return self.uploads.page(limit, offset)

    def get(self, upload_id: str) -> Upload:
        return self.uploads.get(upload_id)

    def runs_of(self, upload: Upload) -> list[Run]:
        """The latest runs of an upload."""
        return self.uploads.runs_of(upload_source(upload.id))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_MB):
            h.update(chunk)
    return h.hexdigest()
