"""The error answers operations declare in the OpenAPI schema.

Every error is JSON `{"detail": "<a sentence>"}` (422 adds `errors`, one per invalid field):
`errors(401, 403, 404)` gives an operation's `responses=` for the codes it can answer, each
with that shape and a description of when it happens. Routers declare what all their
operations share (`AUTHENTICATED`); an operation adds what only it can answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong and what to do, in one sentence")


class FieldErrorOut(BaseModel):
    loc: list[str] = Field(description="Where: body, query or path, then the field")
    msg: str


class ValidationErrorOut(ErrorOut):
    errors: list[FieldErrorOut] = Field(default_factory=list)


_WHEN = {
    401: "Not signed in: no token, or one that is unknown, expired or revoked",
    403: "Signed in, but the role does not allow it (or a cookie request lacks its CSRF token)",
    404: "No such item (pipeline, run, schedule, ...)",
    409: "Not possible in the current state (already finished, disabled, exists already, ...)",
    413: "The body (an upload) is over the configured size limit",
    422: "Invalid input: `detail` names each invalid field or parameter",
    429: "Too many: login attempts, queued runs (QUEUE_FULL_POLICY=reject) or open streams; "
    "see `Retry-After` where sent",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error codes, with fastflow's error body."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        model = ValidationErrorOut if code == 422 else ErrorOut
        out[code] = {"model": model, "description": _WHEN[code]}
    return out


AUTHENTICATED = errors(401, 403, 422)
"""What every operation behind login can answer."""
