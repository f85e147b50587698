"""One exception hierarchy: every error a user sees says what went wrong and what to do."""

from __future__ import annotations


class FastflowError(Exception):
    """Base of all fastflow errors; `status_code` is the HTTP answer the API gives for it."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(FastflowError):
    """Configuration that cannot be used; raised at start-up."""


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
