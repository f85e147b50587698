"""Builds: upload a `.py` or `.zip` source and run it as an ad-hoc pipeline; list; re-run."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import orjson
from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict
from starlette.datastructures import UploadFile

from fastflow.api.deps import Operator, ServicesDep, Viewer
from fastflow.api.responses import AUTHENTICATED, errors
from fastflow.api.router import ApiRouter
from fastflow.api.schemas import RunCreate, RunOut
from fastflow.builds.service import Build
from fastflow.builds.validation import mb
from fastflow.errors import InvalidInputError, TooLargeError
from fastflow.records import Run, Upload
from fastflow.services import Services

router = ApiRouter(prefix="/api/builds", tags=["builds"], responses=AUTHENTICATED)

_FORM_SLACK = 64 * 1024  # multipart headers and small fields around the file
_COPY_CHUNK = 1024 * 1024


def upload_schema(name_field: str, name_description: str, file_description: str) -> dict[str, Any]:
    """The OpenAPI request body of a multipart upload (read by `receive_upload`, not by
    FastAPI, so it is declared by hand)."""
    properties = {
        "file": {"type": "string", "format": "binary", "description": file_description},
        name_field: {"type": "string", "description": name_description},
        "parameters": {"type": "string", "description": "a JSON object of run parameters"},
    }
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


_MULTIPART_SCHEMA = upload_schema(
    "name",
    "pipeline name for its runs",
    "a .py file, or a .zip with main.py and optional requirements.txt / pipeline.json",
)


class UploadOut(BaseModel):
    id: str
    name: str
    filename: str
    kind: str
    size: int
    sha256: str
    uploaded_by: str | None
    created_at: datetime
    url: str

    @classmethod
    def of(cls, upload: Upload) -> UploadOut:
        fields = upload.model_dump(exclude={"source_key"})
        return cls(**fields, url=f"/api/builds/{upload.id}")


class BuildOut(BaseModel):
    """What a started build answers at once: the run to poll and where."""

    build_id: str
    run_id: str
    status: str
    status_url: str
    logs_url: str
    events_url: str
    artifacts_url: str
    upload: UploadOut

    @classmethod
    def of(cls, upload: Upload, run: Run) -> BuildOut:
        out = RunOut.of(run)
        return cls(
            build_id=upload.id,
            run_id=run.id,
            status=run.status,
            status_url=out.status_url,
            logs_url=out.logs_url,
            events_url=out.events_url,
            artifacts_url=f"/api/runs/{run.id}/artifacts",
            upload=UploadOut.of(upload),
        )


class UploadPage(BaseModel):
    items: list[UploadOut]
    total: int
    limit: int
    offset: int


class UploadDetail(UploadOut):
    runs: list[RunOut]


class RerunRequest(RunCreate):
    model_config = ConfigDict(extra="forbid")


def _parse_parameters(raw: object) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise InvalidInputError("form field 'parameters' must be text (a JSON object)")
    try:
        value = orjson.loads(raw)  # too deep nesting is an error here, not a RecursionError
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"form field 'parameters' is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise InvalidInputError("form field 'parameters' must be a JSON object")
    return value


def _save(source: BinaryIO, target: Path, limit: int) -> int:
    """Copy the spooled upload to `target`, refusing it past `limit` bytes."""
    written = 0
    with open(target, "xb") as out:
        while chunk := source.read(_COPY_CHUNK):
            written += len(chunk)
            if written > limit:
                raise TooLargeError(f"upload is over the limit of {mb(limit)}")
            out.write(chunk)
    return written


async def receive_upload(
    request: Request, services: Services, user: str, name_fields: tuple[str, ...] = ("name",)
) -> Build:
    """Read a multipart upload (field `file`; the pipeline name from the first of
    `name_fields` given; `parameters` as a JSON object), check it and start it."""
    builds = services.builds
    limit = builds.limits.max_bytes
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise InvalidInputError("invalid Content-Length header")
        # Refused before a byte of the body is read.
        if int(length) > limit + _FORM_SLACK:
            raise TooLargeError(f"upload is over the limit of {mb(limit)} (UPLOAD_MAX_SIZE_MB)")
    saved = builds.incoming_path()
    try:
        async with request.form(max_files=1, max_fields=10) as form:
            file = form.get("file")
            if not isinstance(file, UploadFile) or not file.filename:
                raise InvalidInputError(
                    "send the source as a multipart/form-data file field named 'file'"
                )
            filename = file.filename
            name = next((form[f] for f in name_fields if form.get(f)), None)
            if name is not None and not isinstance(name, str):
                raise InvalidInputError(f"form field {name_fields[0]!r} must be text")
            parameters = _parse_parameters(form.get("parameters"))
            await asyncio.to_thread(_save, file.file, saved, limit)
        return await asyncio.to_thread(
            builds.accept, filename, saved, name or None, parameters, user
        )
    finally:
        saved.unlink(missing_ok=True)


@router.post(
    "",
    response_model=BuildOut,
    status_code=202,
    openapi_extra=_MULTIPART_SCHEMA,
    responses=errors(409, 413, 429),
)
async def create_build(request: Request, services: ServicesDep, user: Operator) -> BuildOut:
    """Upload a source (multipart field `file`) and start it; answers with the run to poll."""
    build = await receive_upload(request, services, user.username)
    return BuildOut.of(build.upload, build.run)


@router.get("", response_model=UploadPage)
def list_builds(
    services: ServicesDep,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> UploadPage:
    """Uploaded sources, newest first."""
    items, total = services.builds.page(limit, offset)
    return UploadPage(
        items=[UploadOut.of(u) for u in items], total=total, limit=limit, offset=offset
    )


@router.get("/{build_id}", response_model=UploadDetail, responses=errors(404))
def get_build(build_id: str, services: ServicesDep, _: Viewer) -> UploadDetail:
    """One upload and its newest runs."""
    upload = services.builds.get(build_id)
    runs = services.builds.runs_of(upload)
    return UploadDetail(**UploadOut.of(upload).model_dump(), runs=[RunOut.of(r) for r in runs])


@router.post(
    "/{build_id}/run", response_model=BuildOut, status_code=202, responses=errors(404, 409, 429)
)
def run_build_again(
    build_id: str, services: ServicesDep, user: Operator, body: RerunRequest | None = None
) -> BuildOut:
    """Run a stored upload again, optionally with other parameters."""
    upload = services.builds.get(build_id)
    run = services.builds.rerun(upload.id, body.parameters if body else None, user=user.username)
    return BuildOut.of(upload, run)
