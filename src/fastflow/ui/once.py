"""A value shown once (a new API token, a hook token, a webhook secret), with a copy button.

fastflow stores only a hash or a key to derive it: once the dialog is closed, the value is
gone from the page too (the dialog is deleted, not hidden).
"""

from __future__ import annotations

from nicegui import ui

from fastflow.ui.layout import tid


def show_once(title: str, value: str, note: str, extra: str | None = None) -> None:
    with (
        ui.context.client.layout,
        ui.dialog().props("persistent") as dialog,
        ui.card().classes("w-[36rem] max-w-[95vw]").props(tid("once")),
    ):
        ui.label(title).classes("text-lg font-bold")
        ui.label(note).classes("text-sm text-orange-10")
        with ui.row().classes("w-full items-center no-wrap gap-2"):
            ui.label(value).classes(
                "ff-mono text-sm break-all bg-grey-2 px-2 py-1 rounded grow"
            ).props(tid("once-value")).mark("once-value")

            def copy() -> None:
                ui.clipboard.write(value)
                ui.notify("Copied", position="top", timeout=1000)

            ui.button(icon="content_copy", on_click=copy).props(
                'flat round dense aria-label="Copy"'
            ).props(tid("once-copy")).tooltip("Copy")
        if extra:
            ui.label(extra).classes("text-sm ff-mono break-all text-grey-8")
        with ui.row().classes("w-full justify-end"):

            def close() -> None:
                dialog.close()
                dialog.delete()  # the value leaves the page, not only the view

            ui.button("I have stored it", on_click=close).props(tid("once-close")).mark(
                "once-close"
            )
    dialog.on("hide", dialog.delete)
    dialog.open()
