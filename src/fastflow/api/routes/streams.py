"""Live viewers (`GET /api/streams`) and the browser client library fastflow serves."""

from __future__ import annotations

from importlib import resources

from fastapi.responses import Response
from pydantic import BaseModel

from fastflow.api.deps import ServicesDep, Viewer
from fastflow.api.responses import errors
from fastflow.api.router import ApiRouter

router = ApiRouter(tags=["events"])

CLIENT_JS = "fastflow-client.js"


class StreamOut(BaseModel):
    run_id: str
    clients: int
    sse: int
    websocket: int


class StreamsOut(BaseModel):
    streams: list[StreamOut]


@router.get("/api/streams", response_model=StreamsOut, responses=errors(401, 403, 422))
def list_streams(services: ServicesDep, _: Viewer) -> StreamsOut:
    """Runs with live viewers right now, and how many connections each has (SSE + WebSocket)."""
    return StreamsOut(streams=[StreamOut.model_validate(r) for r in services.streams.runs()])


@router.get(f"/static/{CLIENT_JS}", response_class=Response)
def get_browser_client() -> Response:
    """The dependency-free browser client (public: a library, no data; streams need a token)."""
    source = resources.files("fastflow.api").joinpath("static", CLIENT_JS).read_bytes()
    return Response(
        source,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )
