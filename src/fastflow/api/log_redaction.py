"""Keeps tokens out of the server log: `?token=` values in access-log lines become `***`."""

from __future__ import annotations

import logging
import re

_TOKEN_PARAM = re.compile(r"((?:^|[?&])(?:token|access_token)=)[^&\s]*", re.IGNORECASE)


def redact(text: str) -> str:
    return _TOKEN_PARAM.sub(r"\1***", text)


class TokenRedactingFilter(logging.Filter):
    """For uvicorn's access log, whose args are (client, method, path, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install() -> None:
    """Add the filter to uvicorn's access and error loggers (idempotent)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, TokenRedactingFilter) for f in logger.filters):
            logger.addFilter(TokenRedactingFilter())
