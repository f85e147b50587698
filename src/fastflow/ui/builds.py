"""Builds: upload a `.py` or `.zip` from the browser with parameters and run it; the uploads
with their latest runs; run one again. The same `BuildService` calls as `/api/builds`."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import events, ui

from fastflow.models import Role
from fastflow.records import Run, Upload
from fastflow.ui import session
from fastflow.ui.actions import perform
from fastflow.ui.format import when
from fastflow.ui.layout import FormError, frame, status_badge, tid
from fastflow.ui.schedule_form import parse_parameters

PAGE_SIZE = 50


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def _upload_form(reload: Any) -> None:
    builds = session.services().builds
    with ui.card().classes("ff-card w-full").props(tid("build-upload")):
        ui.label("Upload and run").classes("text-lg font-bold")
        ui.label(
            "A single .py file, or a .zip with main.py (and optionally requirements.txt and "
            "pipeline.json). It runs as an ad-hoc pipeline; it is kept to run again."
        ).classes("text-sm text-grey-8")
        with ui.row().classes("w-full gap-2 items-start"):
            name = ui.input("Name (empty: from the file name)").classes("w-64")
            name.props("outlined dense " + tid("build-name")).mark("build-name")
            params = ui.textarea("Parameters (JSON object, optional)").classes("grow min-w-64")
            params.props("outlined dense autogrow " + tid("build-parameters"))
            params.mark("build-parameters")
        error = FormError("build-error")

        async def received(e: events.UploadEventArguments) -> None:
            error.hide()
            saved = builds.incoming_path()
            await e.file.save(saved)
            filename = e.file.name
            text = params.value or ""

            def accept(username: str) -> Run:
                parameters = parse_parameters(text)
                return builds.accept(
                    filename, saved, (name.value or "").strip() or None, parameters, username
                ).run

            try:
                done = await perform(
                    Role.OPERATOR,
                    lambda user: accept(user.username),
                    lambda run: f"Uploaded {filename}; run {run.id[:8]} started",
                    on_error=error.show,
                )
            finally:
                saved.unlink(missing_ok=True)
            upload.reset()
            if done is not None:
                await reload()

        upload = (
            ui.upload(
                label="Choose a .py or .zip",
                auto_upload=True,
                max_files=1,
                on_upload=received,
            )
            .props('accept=".py,.zip" ' + tid("build-file"))
            .classes("w-full max-w-md")
        )
        upload.props(f"max-file-size={builds.limits.max_bytes}")


def _upload_row(item: Upload, runs: list[Run], operator: bool) -> None:
    with ui.card().classes("ff-card w-full").props(tid(f"build-{item.name}")):
        with ui.row().classes("w-full items-center gap-2"):
            ui.label(item.name).classes("text-lg font-bold break-all")
            ui.label(item.filename).classes("ff-mono text-sm text-grey-8 break-all")
            ui.space()

            async def again() -> None:
                done = await perform(
                    Role.OPERATOR,
                    lambda user: session.services().builds.rerun(item.id, user=user.username),
                    lambda run: f"Run {run.id[:8]} of {item.name} started",
                )
                if done is not None:
                    ui.navigate.to(f"/runs/{done.value.id}")

            button = ui.button("Run again", icon="replay", on_click=again).props(
                "dense " + tid("build-rerun")
            )
            button.set_enabled(operator)
            button.mark(f"build-rerun-{item.name}")
        ui.label(
            f"{item.kind} · {_size(item.size)} · sha256 {item.sha256[:12]}… · uploaded "
            f"{when(item.created_at)} by {item.uploaded_by or '—'}"
        ).classes("text-xs text-grey-7 break-all")
        with ui.row().classes("items-center gap-2 text-sm"):
            if not runs:
                ui.label("No runs.").classes("text-grey-7")
            for run in runs[:8]:
                with ui.link(target=f"/runs/{run.id}").classes("no-underline"):
                    status_badge(run.status).tooltip(f"{run.id[:8]} · {when(run.created_at)}")


def register() -> None:
    @ui.page("/builds")
    async def builds_page() -> None:
        builds = session.services().builds

        def load() -> list[tuple[Upload, list[Run]]]:
            items, _ = builds.page(PAGE_SIZE, 0)
            return [(u, builds.runs_of(u)) for u in items]

        with frame("Builds", [("Builds", None)]) as user:
            operator = session.can_operate(user)

            @ui.refreshable
            def body(rows: list[tuple[Upload, list[Run]]]) -> None:
                if not rows:
                    ui.label("Nothing uploaded yet.").classes("text-grey-7").props(
                        tid("builds-empty")
                    )
                for item, runs in rows:
                    _upload_row(item, runs, operator)

            async def reload() -> None:
                body.refresh(await asyncio.to_thread(load))

            ui.label("Builds").classes("text-xl font-bold")
            if operator:
                _upload_form(reload)
            with ui.column().classes("w-full gap-3").props(tid("builds")):
                body(await asyncio.to_thread(load))
