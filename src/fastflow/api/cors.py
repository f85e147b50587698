"""CORS for separate frontends: the origins FASTFLOW_CORS_ORIGINS names may call the API.

Written out rather than Starlette's middleware because the rules are few and strict:

- only the configured origins get CORS headers; any other origin gets none at all (its
  preflight is refused with a sentence, its other requests answer as without CORS, which a
  browser then keeps from the page);
- never `Access-Control-Allow-Credentials`: a page on another origin authenticates with a
  bearer token (header or `?token=`), so the console's session cookie can never act for it;
- a preflight may ask for the headers the API reads (Authorization, Content-Type,
  Last-Event-ID, ...), nothing else.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
REQUEST_HEADERS = frozenset(
    {
        "accept",
        "accept-language",
        "authorization",
        "cache-control",
        "content-language",
        "content-type",
        "last-event-id",
        "x-csrf-token",
        "x-requested-with",
    }
)
EXPOSED_HEADERS = "Content-Disposition, Retry-After, X-Checksum-SHA256"
MAX_AGE = "600"


class CorsMiddleware:
    """Answers preflights and marks answers readable for the allowed origins only."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.any_origin = "*" in origins
        self.origins = frozenset(origins)

    def allowed(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, headers, send)
            return
        allowed = self.allowed(origin)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")
                if allowed:
                    out["Access-Control-Allow-Origin"] = "*" if self.any_origin else origin
                    out["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str, headers: Headers, send: Send) -> None:
        method = headers["access-control-request-method"].strip().upper()
        asked = [
            h.strip().lower()
            for h in headers.get("access-control-request-headers", "").split(",")
            if h.strip()
        ]
        refused = None
        if not self.allowed(origin):
            refused = (
                f"origin {origin[:200]!r} may not call this API from a browser; "
                "the server's FASTFLOW_CORS_ORIGINS names the origins that may"
            )
        elif method not in METHODS:
            refused = f"method {method[:20]!r} is not allowed; use one of {', '.join(METHODS)}"
        elif unknown := [h for h in asked if h not in REQUEST_HEADERS]:
            refused = f"request header {unknown[0][:100]!r} is not allowed in cross-origin calls"
        if refused is not None:
            body = json.dumps({"detail": f"CORS preflight refused: {refused}"}).encode()
            await _answer(send, 403, [(b"content-type", b"application/json")], body)
            return
        out = [
            (b"access-control-allow-origin", b"*" if self.any_origin else origin.encode()),
            (b"access-control-allow-methods", ", ".join(METHODS).encode()),
            (b"access-control-max-age", MAX_AGE.encode()),
            (b"vary", b"Origin"),
        ]
        if asked:
            out.append((b"access-control-allow-headers", ", ".join(asked).encode()))
        await _answer(send, 204, out, b"")


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
