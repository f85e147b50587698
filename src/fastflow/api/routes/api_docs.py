"""The API's own documentation (`/openapi.json`, `/docs`, `/redoc`), behind login.

The schema names every route and parameter: a map for someone probing the server. It is
served to signed-in users (a bearer token, or the console's session cookie, which Swagger
UI's requests carry), and to everyone only with FASTFLOW_PUBLIC_DOCS=true.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from fastflow.api.deps import Viewer


def docs_router(app: FastAPI) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    def openapi(_: Viewer) -> JSONResponse:
        schema: dict[str, Any] = app.openapi()
        return JSONResponse(schema)

    @router.get("/docs")
    def swagger(request: Request, _: Viewer) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="fastflow API")

    @router.get("/redoc")
    def redoc(request: Request, _: Viewer) -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="fastflow API")

    return router
