"""Uploaded code as a pipeline source: kept in the object store, unpacked where runs need it.

The original bytes go to the object store (`uploads/<id>/source.py|zip`); the unpacked
folder under DATA_DIR/uploads/<id>/ is a cache, re-created from the store when a run needs
it on a machine (or after a clean-up) that does not have it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
import zipfile
import zlib
from pathlib import Path

from fastflow.builds.validation import CheckedUpload, UploadLimits, check_upload, unpack
from fastflow.errors import InvalidInputError, NotFoundError
from fastflow.pipelines.discovery import PipelineCatalog, PipelineDefinition, load_definition
from fastflow.records import Upload
from fastflow.runs.ports import Ticket
from fastflow.sandbox.access import share_tree
from fastflow.settings import Settings
from fastflow.storage.objects import ObjectStore
from fastflow.storage.upload_store import UploadStore

UPLOAD_SOURCE = "upload:"
_MB = 1024 * 1024


def upload_source(upload_id: str) -> str:
    return UPLOAD_SOURCE + upload_id


class BuildSource:
    """The server's `PipelineSource`: PIPELINES_DIR, or an upload for `upload:<id>` runs."""

    def __init__(
        self,
        settings: Settings,
        uploads: UploadStore,
        objects: ObjectStore,
        catalog: PipelineCatalog,
    ) -> None:
        self.uploads = uploads
        self.objects = objects
        self.catalog = catalog
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

    def resolve(self, ticket: Ticket) -> PipelineDefinition:
        """A run's code: an upload for `upload:<id>` runs, else PIPELINES_DIR."""
        if ticket.source is None:
            return self.catalog.get(ticket.pipeline_name)
        if not ticket.source.startswith(UPLOAD_SOURCE):
            raise NotFoundError(f"run source {ticket.source!r} is not known to this server")
        return self.resolve_upload(self.uploads.get(ticket.source[len(UPLOAD_SOURCE) :]))

    def resolve_upload(self, upload: Upload) -> PipelineDefinition:
        folder = self.root / upload.id
        if not folder.is_dir():
            self._materialise(upload, folder)
        else:
            with contextlib.suppress(OSError):
                os.utime(folder)  # used now: the clean-up keeps caches used within the hour
        return self.definition(upload)

    def definition(self, upload: Upload) -> PipelineDefinition:
        folder = self.root / upload.id
        entry = folder / "main.py" if upload.kind == "py" else folder
        return load_definition(upload.name, entry)

    def _materialise(self, upload: Upload, folder: Path) -> None:
        saved = self.incoming_path()
        staging = saved.with_name(saved.name + ".d")
        try:
            self.objects.get_file(upload.source_key, saved)
            checked = check_upload(upload.filename, saved, self.limits)
            self.unpack(saved, checked, staging, upload.name)
            try:
                os.replace(staging, folder)
            except OSError:
                if not folder.is_dir():  # not just a concurrent run materialising it first
                    raise
        finally:
            saved.unlink(missing_ok=True)
            shutil.rmtree(staging, ignore_errors=True)

    def unpack(
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
