"""The run and runs pages with NiceGUI's `User` (in process, real app and database; see
test_ui_user.py for why the fixtures are our own)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from fastapi import FastAPI
from nicegui import ui
from nicegui.element import Element
from nicegui.testing.user import User
from nicegui.testing.user_interaction import UserInteraction

from fastflow.settings import Settings
from tests.integration.test_ui_user import _finished, logged_in, services
from tests.support.nicegui_app import console_app


@pytest.fixture
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[FastAPI]:
    async with console_app(make_settings(FASTFLOW_UI=True)) as application:
        yield application


async def _showcase(app: FastAPI) -> str:
    run = services(app).run_service.start("showcase", {"PAUSE": "0", "NOTE": "  two spaces"})
    assert await _finished(app, run.id) == "SUCCESS"
    return run.id


async def test_run_page_shows_progress_parameters_and_artifacts_safely(app: FastAPI) -> None:
    run_id = await _showcase(app)
    user = await logged_in(app)
    await user.open(f"/runs/{run_id}")
    await user.should_see("100% All done")  # the last report, not an earlier one
    await user.should_see("  two spaces")  # a parameter exactly as the run got it
    for name in ("report.md", "table.csv", "data.json", "chart.png", "page.html", "logo.svg"):
        await user.should_see(name)
    svc = services(app)
    sha = next(a.sha256 for a in svc.run_files.of_run(run_id) if a.path == "report.md")
    [label] = [
        el for el in by_testid(user, "artifact-sha256") if el.props.get("data-sha256") == sha
    ]
    assert label.text.startswith(f"sha256 {sha[:16]}")
    # SVG can carry script: it has no preview at all.
    [box] = by_testid(user, "artifact-logo.svg")
    assert not [el for el in box.descendants() if el.props.get("data-testid") == "artifact-preview"]
    for button in sorted(by_testid(user, "artifact-preview"), key=lambda e: e.id):
        UserInteraction(user, {button}, None).click()
    for kind in ("markdown", "csv", "json", "html", "text", "image"):
        await shown(user, f"preview-{kind}")
    [md] = by_testid(user, "preview-markdown")
    assert isinstance(md, ui.html)
    assert "<script" not in md.content and "&lt;script&gt;" in md.content
    assert "<img" not in md.content and 'href="javascript' not in md.content
    [frame] = by_testid(user, "preview-html")
    assert frame.props["sandbox"] == ""  # no allow-scripts, no allow-same-origin
    assert "src" not in frame.props  # the file's HTML only as srcdoc, inside the sandbox
    [table] = by_testid(user, "preview-csv")
    assert isinstance(table, ui.table)
    assert table.rows[1]["c0"] == "<b>bob</b>"  # a cell, shown as text
    [text] = by_testid(user, "preview-text")
    assert isinstance(text, ui.label) and text.text == "plain <b>text</b> & more\n"


async def shown(user: User, testid: str) -> None:
    """Wait for an element that an event handler adds."""
    for _ in range(1500):
        if by_testid(user, testid):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{testid} never appeared")


def by_testid(user: User, testid: str) -> list[Element]:
    assert user.client is not None
    with user.client:
        return [el for el in user.client.elements.values() if el.props.get("data-testid") == testid]


async def test_artifact_files_are_served_sandboxed(app: FastAPI) -> None:
    run_id = await _showcase(app)
    user = await logged_in(app)
    get = user.http_client.get
    png = await get(f"/ui/runs/{run_id}/files/chart.png?inline=1")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    html = await get(f"/ui/runs/{run_id}/files/page.html?inline=1")
    assert html.headers["content-type"].startswith("text/html")
    assert html.headers["content-security-policy"].startswith("sandbox;")
    svg = await get(f"/ui/runs/{run_id}/files/logo.svg?inline=1")
    assert svg.headers["content-type"] == "application/octet-stream"
    assert svg.headers["content-disposition"].startswith("attachment")
    for r in (png, html, svg):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]
    assert (await get(f"/ui/runs/{run_id}/files/missing.txt")).status_code == 404
    assert (await get(f"/ui/runs/{run_id}/files/..%2F..%2Fetc%2Fpasswd")).status_code in (404, 422)
    assert (await get("/ui/runs/nope/files/a.txt")).status_code == 404
    # Without a session: the login wall.
    anonymous = await user.http_client.__class__(
        transport=user.http_client._transport, base_url="http://test"
    ).get(f"/ui/runs/{run_id}/files/chart.png")
    assert anonymous.status_code == 303


async def test_runs_page_filters_come_from_the_url(app: FastAPI) -> None:
    run_id = await _showcase(app)
    failing = services(app).run_service.start("failing")
    assert await _finished(app, failing.id) == "FAILED"
    user = await logged_in(app)

    async def listed(path: str) -> list[dict[str, object]]:
        await user.open(path)
        await shown(user, "runs-table")
        [table] = by_testid(user, "runs-table")
        assert isinstance(table, ui.table)
        return list(table.rows)

    rows = await listed("/runs?pipeline=showcase")
    assert [r["id"] for r in rows] == [run_id]
    [row] = rows
    assert (row["progress"], row["ptext"], row["ago"]) == (100, "All done", "just now")
    assert [r["id"] for r in await listed("/runs?status=FAILED")] == [failing.id]
    assert {r["id"] for r in await listed("/runs?status=FAILED,SUCCESS")} == {run_id, failing.id}
    # Hostile or unknown values are ignored, not a server error.
    assert len(await listed("/runs?status=NOPE&page=abc&per_page=-5&sort=password&since=x")) == 2
    assert await listed("/runs?since=2999-01-01") == []
