"""One exception hierarchy: every error a user sees says what went wrong and what to do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class FastflowError(Exception):
    """Base of all fastflow errors; `status_code` is the HTTP answer the API gives for it."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(FastflowError):
    """Configuration that cannot be used; raised at start-up."""


class MissingExtraError(ConfigError):
    """The configuration asks for an optional part whose extra is not installed."""


class UnavailableError(FastflowError):
    """A service the request needs (e.g. Redis) does not answer now."""

    status_code = 503


class NotFoundError(FastflowError):
    status_code = 404


class ConflictError(FastflowError):
    status_code = 409


class InvalidInputError(FastflowError):
    status_code = 422


class AuthError(FastflowError):
    status_code = 401


class ForbiddenError(FastflowError):
    status_code = 403


class CapacityError(FastflowError):
    """The concurrency limit is reached and the server is configured to refuse, not queue."""

    status_code = 429


class TooLargeError(FastflowError):
    """An upload or a run's output is over a configured size limit."""

    status_code = 413


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
