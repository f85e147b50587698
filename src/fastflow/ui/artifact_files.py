"""An artifact's bytes for the console's previews, served so that nothing in them can act in
the console's origin.

A run controls its artifacts, so they are treated as hostile: only images of an allow-listed
type are served inline (for `<img>`), HTML only inline for a sandboxed `<iframe>`, and every
response carries `Content-Security-Policy: sandbox` (an opaque origin without script even when
the URL is opened directly) and `X-Content-Type-Options: nosniff` (the browser takes the type
it is told). SVG is never inline: it is a document that can hold script. Everything else is an
attachment of type `application/octet-stream`.
"""

from __future__ import annotations

import asyncio
from pathlib import PurePosixPath
from urllib.parse import quote

from nicegui import app
from starlette.responses import JSONResponse, Response, StreamingResponse

from fastflow.errors import FastflowError
from fastflow.ui import session

# Served inline for <img>: raster formats a browser never runs anything from.
INLINE_IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
}
HTML = {".html", ".htm"}
# No script, no plugins, no forms, no requests out: styles and inline images only.
_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def suffix(path: str) -> str:
    return PurePosixPath(path).suffix.lower()


def file_url(run_id: str, path: str, inline: bool = False) -> str:
    return f"/ui/runs/{run_id}/files/{quote(path)}" + ("?inline=1" if inline else "")


def headers_for(path: str, inline: bool) -> tuple[str, dict[str, str]]:
    """(media type, headers) an artifact at `path` is served with."""
    ext = suffix(path)
    name = quote(path.rsplit("/", 1)[-1])
    headers = {
        "Content-Security-Policy": _CSP,
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "private, no-cache",
    }
    if inline and ext in INLINE_IMAGES:
        media = INLINE_IMAGES[ext]
    elif inline and ext in HTML:
        media = "text/html; charset=utf-8"
    else:
        media = "application/octet-stream"
        inline = False
    disposition = "inline" if inline else "attachment"
    headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{name}"
    return media, headers


def register() -> None:
    @app.get("/ui/runs/{run_id}/files/{path:path}", include_in_schema=False)
    async def ui_artifact(run_id: str, path: str, inline: bool = False) -> Response:
        svc = session.services()
        try:
            run = await asyncio.to_thread(svc.run_service.get, run_id)
            artifact, chunks = await asyncio.to_thread(svc.run_files.open, run.id, path)
        except FastflowError as exc:
            return JSONResponse({"detail": exc.message}, status_code=exc.status_code)
        media, headers = headers_for(artifact.path, inline)
        headers["Content-Length"] = str(artifact.size)
        return StreamingResponse(chunks, media_type=media, headers=headers)
