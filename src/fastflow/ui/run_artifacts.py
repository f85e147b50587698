"""The files a run kept (FASTFLOW_ARTIFACTS_DIR) on its page: name, size, checksum, download.

The links are the API's own download route, which takes the console's session cookie."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from nicegui import ui

from fastflow.ui import session
from fastflow.ui.layout import tid


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


class ArtifactsPanel:
    """A card listing a run's artifacts; `refresh` when the run may have kept new ones."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        with ui.card().classes("ff-card w-full").props(tid("artifacts")):
            ui.label("Artifacts").classes("text-lg font-bold")
            self.rows = ui.column().classes("w-full gap-1")

    async def refresh(self) -> None:
        found = await asyncio.to_thread(session.services().run_files.of_run, self.run_id)
        self.rows.clear()
        with self.rows:
            if not found:
                ui.label(
                    "None yet: files a run writes into $FASTFLOW_ARTIFACTS_DIR are kept here "
                    "when it ends."
                ).classes("text-sm text-grey-7")
            for artifact in found:
                url = f"/api/runs/{self.run_id}/artifacts/{quote(artifact.path)}"
                with ui.row().classes("items-center gap-3 w-full"):
                    ui.icon("description").classes("text-grey-7")
                    ui.link(artifact.path, url, new_tab=True).classes("ff-mono").props(
                        tid(f"artifact-{artifact.path}")
                    )
                    ui.label(human_size(artifact.size)).classes("text-sm text-grey-8")
                    ui.label(f"sha256 {artifact.sha256[:12]}…").classes(
                        "text-xs text-grey-7 ff-mono max-sm:hidden"
                    )
