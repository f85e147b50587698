"""Log and metrics files for the UI, behind the UI session (the login wall guards them).

The API's download routes want a bearer token, which a plain link in the browser cannot send;
these serve the same files to a logged-in console. Kept out of the OpenAPI schema.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated

from fastapi import Query
from nicegui import app
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from fastflow.errors import FastflowError
from fastflow.events.log import format_log_text, read_events
from fastflow.ui import session


def log_url(run_id: str, first: int | None = None, last: int | None = None) -> str:
    if first is None:
        return f"/ui/runs/{run_id}/log?download=1"
    return f"/ui/runs/{run_id}/log?from_seq={first}&to_seq={last}"


def metrics_url(run_id: str) -> str:
    return f"/ui/runs/{run_id}/metrics"


def register() -> None:
    @app.get("/ui/runs/{run_id}/log", include_in_schema=False)
    async def ui_log(
        run_id: str,
        from_seq: Annotated[int, Query(ge=1)] = 1,
        to_seq: Annotated[int | None, Query(ge=1)] = None,
        download: bool = False,
    ) -> Response:
        svc = session.services()
        try:
            run = await asyncio.to_thread(svc.run_service.get, run_id)
        except FastflowError as exc:
            return JSONResponse({"detail": exc.message}, status_code=exc.status_code)
        path = svc.run_service.log_path(run.id)

        def lines() -> Iterator[bytes]:
            for text in format_log_text(read_events(path, from_seq, to_seq)):
                yield text.encode()

        headers = {}
        if download:
            headers["Content-Disposition"] = f'attachment; filename="run-{run.id}.log"'
        return StreamingResponse(lines(), media_type="text/plain; charset=utf-8", headers=headers)

    @app.get("/ui/runs/{run_id}/metrics", include_in_schema=False)
    async def ui_metrics(run_id: str) -> Response:
        svc = session.services()
        try:
            run = await asyncio.to_thread(svc.run_service.get, run_id)
        except FastflowError as exc:
            return JSONResponse({"detail": exc.message}, status_code=exc.status_code)
        path = svc.run_service.metrics_path(run.id)
        if not path.exists():
            return JSONResponse({"detail": f"run {run_id} has no metrics yet"}, status_code=404)
        return FileResponse(
            path, media_type="application/x-ndjson", filename=f"run-{run.id}-metrics.jsonl"
        )
