"""The dashboard's workers panel: live Celery workers (`GET /api/workers`' source), or a note
that runs execute inside this server (DISPATCHER=embedded) — each with whether its runs are
sandboxed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from nicegui import ui

from fastflow.errors import UnavailableError
from fastflow.runs.ports import RemoteWorkers
from fastflow.ui import session
from fastflow.ui.format import short_id
from fastflow.ui.layout import tid


@dataclass(frozen=True)
class WorkersState:
    remote: bool  # False: DISPATCHER=embedded, runs execute in this server
    workers: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    sandbox: dict[str, Any] = field(default_factory=dict)  # this server's local runs


async def load_workers() -> WorkersState:
    """The workers alive now, as `GET /api/workers` lists them."""
    services = session.services()
    dispatcher = services.dispatcher
    sandbox = services.sandbox.to_dict()
    if not isinstance(dispatcher, RemoteWorkers):
        return WorkersState(remote=False, sandbox=sandbox)
    try:
        workers = await asyncio.to_thread(dispatcher.list_workers)
    except UnavailableError as exc:
        return WorkersState(remote=True, error=exc.message, sandbox=sandbox)
    return WorkersState(remote=True, workers=workers, sandbox=sandbox)


def signature(state: WorkersState) -> object:
    """What the panel shows, without the heartbeat times that change every few seconds."""
    return (
        state.remote,
        state.error,
        [
            # Heartbeats in 10 s steps: the "ago" text stays roughly true without a rebuild
            # every tick.
            (w.get("id"), tuple(w.get("running_runs") or ()), int(w.get("last_heartbeat", 0)) // 10)
            for w in state.workers
        ],
    )


def _ago(epoch: float | None) -> str:
    if not epoch:
        return "—"
    return f"{max(0.0, time.time() - float(epoch)):.0f}s ago"


def sandbox_badge(info: dict[str, Any] | None) -> None:
    """A shield: green when runs are sandboxed, red when not; the detail as tooltip."""
    if not info:
        ui.badge("sandbox unknown", color="grey-7").classes("text-white")
        return
    sandboxed = bool(info.get("sandboxed"))
    with ui.row().classes("items-center gap-1").props(tid("sandbox")):
        ui.icon("verified_user" if sandboxed else "gpp_bad").classes(
            "text-green-8" if sandboxed else "text-red-8"
        )
        text = "sandboxed" if sandboxed else "NOT sandboxed"
        label = ui.label(text).classes(
            "text-sm font-medium " + ("text-green-9" if sandboxed else "text-red-9")
        )
        label.tooltip(str(info.get("detail", "")))


def workers_panel(state: WorkersState) -> None:
    """A card listing workers with host, queues, concurrency, heartbeat and running runs."""
    with ui.card().classes("ff-card w-full").props(tid("workers")):
        with ui.row().classes("items-center gap-2"):
            ui.label("Workers").classes("text-lg font-bold")
            if state.remote:
                ui.badge(str(len(state.workers)), color="primary").classes("text-white")
        if not state.remote:
            ui.label("Embedded: runs execute inside this server (DISPATCHER=embedded).").classes(
                "text-sm text-grey-8"
            )
            with ui.row().classes("items-center gap-2 text-sm"):
                ui.label("Local runs:")
                sandbox_badge(state.sandbox)
                ui.label(str(state.sandbox.get("detail", ""))).classes("text-grey-8")
            return
        if state.error:
            ui.label(state.error).classes("text-negative text-sm break-all")
            return
        if not state.workers:
            ui.label("No Celery worker is alive; runs wait in the queue.").classes(
                "text-sm text-orange-10"
            )
        for w in state.workers:
            running = w.get("running_runs") or []
            with (
                ui.row().classes("items-center gap-x-4 gap-y-0 text-sm w-full").props(tid("worker"))
            ):
                ui.icon("memory", color="primary")
                ui.label(f"{w.get('host')} (pid {w.get('pid')})").classes("font-medium")
                ui.label("queues " + ", ".join(w.get("queues") or []))
                ui.label(f"{len(running)}/{w.get('concurrency')} busy")
                ui.label(f"heartbeat {_ago(w.get('last_heartbeat'))}").classes("text-grey-8")
                sandbox_badge(w.get("sandbox"))
                for run_id in running:
                    ui.link(short_id(str(run_id)), f"/runs/{run_id}").classes("ff-mono")
