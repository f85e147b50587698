"""BuildService: accept an uploaded source, keep it, run it; re-run it; resolve it for runs.

An upload is checked and unpacked before anything is stored, so a bad upload leaves nothing
behind. The original bytes go to the object store (`uploads/<id>/source.py|zip`); the
unpacked folder under DATA_DIR/uploads/<id>/ is a cache, re-created from the store when a
run needs it on a machine (or after a clean-up) that does not have it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastflow.builds.validation import (
    CheckedUpload,
    UploadLimits,
    check_upload,
    unpack,
    upload_kind,
)
from fastflow.errors import ConflictError, InvalidInputError, NotFoundError
from fastflow.models import Trigger
from fastflow.pipelines.discovery import (
    MAX_NAME_LENGTH,
    PipelineCatalog,
    PipelineDefinition,
    check_name,
    load_definition,
)
from fastflow.runs.parameters import resolve_parameters
from fastflow.runs.service import RunService
from fastflow.sandbox.access import share_tree
from fastflow.settings import Settings
from fastflow.storage.objects import ObjectStore
from fastflow.storage.tables import Run, Upload, new_id
from fastflow.storage.upload_store import UploadStore

UPLOAD_SOURCE = "upload:"
_MB = 1024 * 1024


def upload_source(upload_id: str) -> str:
    return UPLOAD_SOURCE + upload_id


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
        settings: Settings,
        uploads: UploadStore,
        objects: ObjectStore,
        catalog: PipelineCatalog,
        run_service: RunService,
    ) -> None:
        self.settings = settings
        self.uploads = uploads
        self.objects = objects
        self.catalog = catalog
        self.run_service = run_service
        self.limits = UploadLimits(
            max_bytes=int(settings.upload_max_size_mb * _MB),
            max_unpacked_bytes=int(settings.upload_max_unpacked_mb * _MB),
            max_ratio=settings.upload_max_ratio,
        )
        self.root = settings.uploads_dir

    def incoming_path(self) -> Path:
        """A fresh path for an upload's bytes while they are checked."""
        folder = self.root / ".incoming"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / uuid.uuid4().hex

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
            pipeline = self._unpack(saved, checked, staging, name)
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
            pipeline = self._definition(upload)
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
        pipeline = self.resolve_upload(upload)
        if not pipeline.valid:
            raise ConflictError(f"upload {upload_id} is invalid: {pipeline.error}")
        params = resolve_parameters(pipeline.config, parameters or {})
        return self.run_service.start_definition(
            pipeline, params, Trigger.API, user, source=upload_source(upload.id)
        )

    def resolve(self, run: Run) -> PipelineDefinition:
        """The engine's resolver: an upload for `upload:<id>` runs, else PIPELINES_DIR."""
        if run.source is None:
            return self.catalog.get(run.pipeline_name)
        if not run.source.startswith(UPLOAD_SOURCE):
            raise NotFoundError(f"run source {run.source!r} is not known to this server")
        return self.resolve_upload(self.uploads.get(run.source[len(UPLOAD_SOURCE) :]))

    def resolve_upload(self, upload: Upload) -> PipelineDefinition:
        folder = self.root / upload.id
        if not folder.is_dir():
            self._materialise(upload, folder)
        else:
            with contextlib.suppress(OSError):
                os.utime(folder)  # used now: the clean-up keeps caches used within the hour
        return self._definition(upload)

    def _definition(self, upload: Upload) -> PipelineDefinition:
        folder = self.root / upload.id
        entry = folder / "main.py" if upload.kind == "py" else folder
        return load_definition(upload.name, entry)

    def _materialise(self, upload: Upload, folder: Path) -> None:
        saved = self.incoming_path()
        staging = saved.with_name(saved.name + ".d")
        try:
            self.objects.get_file(upload.source_key, saved)
            checked = check_upload(upload.filename, saved, self.limits)
            self._unpack(saved, checked, staging, upload.name)
            try:
                os.replace(staging, folder)
            except OSError:
                if not folder.is_dir():  # not just a concurrent run materialising it first
                    raise
        finally:
            saved.unlink(missing_ok=True)
            shutil.rmtree(staging, ignore_errors=True)

    def _unpack(
        self, saved: Path, checked: CheckedUpload, staging: Path, name: str
    ) -> PipelineDefinition:
        try:
            unpack(saved, checked, staging, self.limits)
            share_tree(staging)  # read by runs, which may be another OS user
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise InvalidInputError(f"the zip archive is damaged: {exc}") from None
        pipeline = load_definition(name, staging / "main.py" if checked.kind == "py" else staging)
        if not pipeline.valid:
            raise InvalidInputError(f"the upload is not a valid pipeline: {pipeline.error}")
        return pipeline

    def _refuse_repository_name(self, name: str) -> None:
        try:
            self.catalog.get(name)
        except NotFoundError:
            return
        raise ConflictError(
            f"a pipeline named {name!r} exists in PIPELINES_DIR; give the build another 'name'"
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_MB):
            h.update(chunk)
    return h.hexdigest()
