"""The files a run kept (FASTFLOW_ARTIFACTS_DIR) on its page: name, size, SHA-256 (copyable),
download, and an inline preview for the kinds `artifact_preview` knows.

Downloads use the API's own route, which takes the console's session cookie; previews use the
console's sandboxed file route (`artifact_files`)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from nicegui import ui

from fastflow.records import Artifact
from fastflow.ui import session
from fastflow.ui.artifact_preview import head_text, kind, render
from fastflow.ui.layout import tid

_ICONS = {
    "text": "description",
    "markdown": "article",
    "csv": "table_chart",
    "json": "data_object",
    "image": "image",
    "html": "web",
}


_CSS = """
.ff-markdown h1 { font-size: 1.5rem; line-height: 2rem; font-weight: 700; margin: 0.4rem 0; }
.ff-markdown h2 { font-size: 1.25rem; line-height: 1.75rem; font-weight: 700; margin: 0.4rem 0; }
.ff-markdown h3, .ff-markdown h4, .ff-markdown h5, .ff-markdown h6 {
  font-size: 1.05rem; line-height: 1.5rem; font-weight: 700; margin: 0.3rem 0; }
.ff-markdown p, .ff-markdown ul, .ff-markdown ol, .ff-markdown pre { margin: 0.3rem 0; }
.ff-markdown ul { list-style: disc; padding-left: 1.5rem; }
.ff-markdown ol { list-style: decimal; padding-left: 1.5rem; }
.ff-markdown code { font-family: ui-monospace, monospace; background: rgba(0, 0, 0, 0.06);
  padding: 0 3px; border-radius: 3px; }
"""


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
        self.seen: list[tuple[str, str]] | None = None
        ui.add_css(_CSS)
        with ui.card().classes("ff-card w-full").props(tid("artifacts")):
            ui.label("Artifacts").classes("text-lg font-bold")
            self.rows = ui.column().classes("w-full gap-1")

    async def refresh(self) -> None:
        found = await asyncio.to_thread(session.services().run_files.of_run, self.run_id)
        seen = [(a.path, a.sha256) for a in found]
        if seen == self.seen:
            return  # unchanged: open previews stay open
        self.seen = seen
        self.rows.clear()
        with self.rows:
            if not found:
                ui.label(
                    "None yet: files a run writes into $FASTFLOW_ARTIFACTS_DIR are kept here "
                    "when it ends."
                ).classes("text-sm text-grey-7")
            for artifact in found:
                self._row(artifact)

    def _row(self, artifact: Artifact) -> None:
        url = f"/api/runs/{self.run_id}/artifacts/{quote(artifact.path)}"
        what = kind(artifact.path)
        with ui.column().classes("w-full gap-1").props(tid(f"artifact-{artifact.path}")):
            with ui.row().classes("items-center gap-x-3 gap-y-0 w-full"):
                ui.icon(_ICONS.get(what or "", "insert_drive_file")).classes("text-grey-7")
                ui.link(artifact.path, url).classes("ff-mono break-all").props(
                    f'download="{artifact.path.rsplit("/", 1)[-1]}"'
                ).props(tid("artifact-download"))
                ui.label(human_size(artifact.size)).classes("text-sm text-grey-8")
                sha = ui.label(f"sha256 {artifact.sha256[:16]}…").classes(
                    "text-xs text-grey-7 ff-mono cursor-pointer"
                )
                sha.tooltip(artifact.sha256)
                sha.props(tid("artifact-sha256")).props(f'data-sha256="{artifact.sha256}"')
                ui.button(
                    icon="content_copy",
                    on_click=lambda a=artifact: self._copy(a.sha256),
                ).props('flat dense round size=sm aria-label="Copy SHA-256"')
                ui.space()
                if what is not None:
                    button = ui.button("Preview", icon="visibility").props("flat dense")
                    button.props(tid("artifact-preview"))
            body = ui.column().classes("w-full gap-1")
            body.set_visibility(False)
            if what is not None:
                button.on_click(lambda a=artifact, b=body: self._toggle(a, b))

    def _copy(self, sha: str) -> None:
        ui.clipboard.write(sha)
        ui.notify("SHA-256 copied")

    async def _toggle(self, artifact: Artifact, body: ui.column) -> None:
        if body.visible:
            body.set_visibility(False)
            return
        body.set_visibility(True)
        if body.default_slot.children:
            return
        text: str | None = None
        more = False
        if kind(artifact.path) != "image":
            svc = session.services()
            text, more = await asyncio.to_thread(
                lambda: head_text(svc.run_files.open(self.run_id, artifact.path)[1])
            )
        with body:
            render(self.run_id, artifact.path, text, more)
