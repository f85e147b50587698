"""Every error answers JSON `{"detail": "<a sentence a person understands>"}`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fastflow.auth.throttle import TooManyAttemptsError
from fastflow.errors import AuthError, FastflowError

log = logging.getLogger(__name__)


def _where(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        kind = {"body": "body field", "query": "query parameter", "path": "path parameter"}
        head = kind.get(parts[0], parts[0])
        rest = ".".join(parts[1:])
        return f"{head} '{rest}'" if rest else "request body"
    return ".".join(parts) or "request"


def describe_validation(errors: Sequence[Any]) -> str:
    """One sentence naming each invalid field, as 422 answers (and the console) show it."""
    problems = []
    for err in errors:
        msg = err.get("msg", "invalid value")
        if err.get("type") == "json_invalid":
            msg = "the request body is not valid JSON"
        problems.append(f"{_where(tuple(err.get('loc', ())))}: {msg}")
    return "; ".join(problems) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FastflowError)
    async def fastflow_error(request: Request, exc: FastflowError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else {}
        if isinstance(exc, TooManyAttemptsError):
            headers = {"Retry-After": str(exc.retry_after)}
        if _sends_a_body(request):
            # Refused before its body was read: end the connection after the answer, so a
            # client still sending (megabytes of an upload) stops at once instead of the
            # server reading all of it to keep the connection.
            headers["Connection"] = "close"
        return JSONResponse({"detail": exc.message}, exc.status_code, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"detail": describe_validation(exc.errors()), "errors": _plain(exc.errors())}, 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse({"detail": "internal server error; see the server log"}, 500)


def _plain(errors: object) -> list[dict[str, object]]:
    """Validation errors made JSON-safe (inputs may be bytes or other objects)."""
    out: list[dict[str, object]] = []
    for err in errors if isinstance(errors, list | tuple) else []:
        out.append({"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg"))})
    return out


def _sends_a_body(request: Request) -> bool:
    length = request.headers.get("content-length", "0")
    return (length.isdigit() and int(length) > 0) or "transfer-encoding" in request.headers
