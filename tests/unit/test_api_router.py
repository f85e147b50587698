"""ApiRouter: a `def` endpoint runs in the thread pool once, unchanged; routers are passed by
their prefix without changing which route answers."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Path, Query
from pydantic import BaseModel

from fastflow.api.router import ApiRouter, in_thread_pool


class Item(BaseModel):
    id: str
    size: int


seen: dict[str, int] = {}

items = ApiRouter(prefix="/api/items")
other = ApiRouter(prefix="/api/other")
bare = ApiRouter()


@items.get("/{item_id}", response_model=Item)
def get_item(
    item_id: Annotated[str, Path(pattern=r"^[a-z]{1,8}$")],
    size: Annotated[int, Query(ge=0)] = 1,
) -> dict[str, object]:
    seen["thread"] = threading.get_ident()
    if item_id == "missing":
        raise HTTPException(404, "no such item")
    # Fields beyond the model are dropped by the response model, as before.
    return {"id": item_id, "size": size, "secret": "not shown"}


@items.post("/{item_id}", status_code=201)
def make_item(item_id: str, body: Item) -> Item:
    return Item(id=item_id, size=body.size)


@other.get("")
async def other_root() -> dict[str, str]:
    seen["async_thread"] = threading.get_ident()
    return {"router": "other"}


@bare.get("/api/items/special/{x}")
def special(x: str) -> dict[str, str]:
    return {"special": x}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(items)
    app.include_router(other)
    app.include_router(bare)
    app.include_router(items, prefix="/v2")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        yield c


async def test_a_def_endpoint_runs_off_the_event_loop_with_its_parameters(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/api/items/abc", params={"size": 3})
    assert r.status_code == 200 and r.json() == {"id": "abc", "size": 3}
    assert (await client.get("/api/other")).json() == {"router": "other"}
    assert seen["thread"] != seen["async_thread"]  # the async one ran on the loop's thread
    r = await client.post("/api/items/n", json={"id": "x", "size": 5})
    assert r.status_code == 201 and r.json() == {"id": "n", "size": 5}


async def test_validation_and_errors_answer_as_before(client: httpx.AsyncClient) -> None:
    async def status(method: str, path: str, **kw: object) -> int:
        return (await client.request(method, path, **kw)).status_code  # type: ignore[arg-type]

    assert await status("GET", "/api/items/missing") == 404
    assert await status("GET", "/api/items/ABC") == 422  # path pattern
    assert await status("GET", "/api/items/abc", params={"size": -1}) == 422
    assert await status("POST", "/api/items/n", json={"size": "big"}) == 422
    assert await status("DELETE", "/api/items/abc") == 405  # a route, not this method
    assert await status("GET", "/api/nothing") == 404
    assert await status("GET", "/api") == 404


async def test_routers_are_passed_by_prefix_without_changing_which_route_answers(
    client: httpx.AsyncClient,
) -> None:
    # A router without a prefix still sees every path.
    assert (await client.get("/api/items/special/1")).json() == {"special": "1"}
    # Included again under another prefix: its paths still hold its own prefix.
    assert (await client.get("/v2/api/items/abc")).json() == {"id": "abc", "size": 1}
    assert (await client.get("/v2/api/other")).status_code == 404


def test_only_plain_functions_are_wrapped() -> None:
    async def coroutine() -> None: ...

    def generator() -> Iterator[int]:
        yield 1

    def plain() -> int:
        return 1

    assert in_thread_pool(coroutine) is coroutine
    assert in_thread_pool(generator) is generator
    wrapped = in_thread_pool(plain)
    assert wrapped is not plain and wrapped.__wrapped__ is plain  # type: ignore[attr-defined]
    assert wrapped.__name__ == "plain"
