"""The API's router: a plain `def` endpoint costs one trip to the thread pool, not two.

FastAPI runs a `def` endpoint in its thread pool and then, to check the answer against the
response model, goes there a second time (it assumes a sync endpoint's model may be slow to
validate). Each trip there and back costs more than checking a model instance, and waits for
the GIL while the event loop is busy. `ApiRouter` hands FastAPI an `async` wrapper of each
`def` endpoint that runs it in the thread pool once; the check then happens on the loop.
The endpoint itself is unchanged: same signature, still run in the thread pool.

It also lets a request pass a router by its prefix instead of trying each of its routes.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import Scope


def in_thread_pool(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """`endpoint` as a coroutine function that runs it in the thread pool (coroutine and
    generator functions, which FastAPI treats otherwise, are returned as they are)."""
    plain = inspect.isfunction(endpoint) or inspect.ismethod(endpoint)
    if (
        not plain
        or inspect.iscoroutinefunction(endpoint)
        or inspect.isgeneratorfunction(endpoint)
        or inspect.isasyncgenfunction(endpoint)
    ):
        return endpoint

    # FastAPI reads the parameters and their annotations through `__wrapped__`.
    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(endpoint, *args, **kwargs)

    return run


class ApiRouter(APIRouter):
    """An APIRouter whose `def` endpoints take one trip to the thread pool per request, and
    that a request whose path cannot be one of its routes passes by at once."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, in_thread_pool(endpoint), **kwargs)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # FastAPI tries the pattern of every route of every router in turn. Each path of
        # this router starts with its prefix (after any prefix it is included with), so a
        # path without the prefix anywhere matches none of them.
        if self.prefix and self.prefix not in scope.get("path", ""):
            return Match.NONE, {}
        return super().matches(scope)
