"""The API's own documentation (`/openapi.json`, `/docs`, `/redoc`), offline and behind login.

The schema names every route and parameter: a map for someone probing the server. It is
served to signed-in users (a bearer token, or the console's session cookie, which Swagger
UI's requests carry), and to everyone only with FASTFLOW_PUBLIC_DOCS=true.

Swagger UI (Apache-2.0) and ReDoc (MIT) come from the `fastapi-offline` package (MIT) and are
served by fastflow itself under `/docs/assets/`: the pages work without internet access (their
scripts and styles come from no CDN; only ReDoc's attribution logo in its menu is remote, and
missing offline).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from fastflow.api.deps import require
from fastflow.api.router import ApiRouter
from fastflow.errors import NotFoundError
from fastflow.models import Role

ASSETS_URL = "/docs/assets"
_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def assets_folder() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def docs_router(app: FastAPI, public: bool) -> ApiRouter:
    """The schema, both documentation pages and their assets; behind login unless `public`."""
    guard = [] if public else [Depends(require(Role.VIEWER))]
    router = ApiRouter(include_in_schema=False, dependencies=guard)
    folder = assets_folder()

    @router.get("/openapi.json")
    def openapi() -> JSONResponse:
        schema: dict[str, Any] = app.openapi()
        return JSONResponse(schema)

    @router.get("/docs")
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="fastflow API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )

    @router.get("/redoc")
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="fastflow API",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    @router.get(ASSETS_URL + "/{name}")
    def asset(name: str) -> FileResponse:
        if name not in _ASSETS:  # a fixed list: a name never reaches the file system
            raise NotFoundError(f"no documentation asset {name!r}")
        return FileResponse(
            folder / name,
            media_type=_TYPES[Path(name).suffix],
            headers={"Cache-Control": "public, max-age=86400"},
        )

    return router
