"""Every error answers JSON `{"detail": "<a sentence a person understands>"}`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fastflow.auth.throttle import TooManyAttemptsError
from fastflow.errors import AuthError, FastflowError, describe_validation

log = logging.getLogger(__name__)


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
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # The framework's answer to a body it cannot parse (JSON that is not UTF-8,
            # broken multipart): invalid input like any other, with the same status.
            what = "send UTF-8 JSON" if "parsing the body" in str(exc.detail) else exc.detail
            detail = f"the request body could not be read: {what}"
            return JSONResponse({"detail": detail, "errors": []}, 422)
        detail = exc.detail
        # The router's own answers say only "Not Found" / "Method Not Allowed": say more.
        path = request.url.path[:200]
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"not found: {path} is no route of this server"
        elif exc.status_code == 405 and detail == "Method Not Allowed":
            detail = f"method {request.method} is not allowed for {path}"
        return JSONResponse({"detail": detail}, exc.status_code, headers=exc.headers)

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
