"""Inline previews of a run's artifacts: text, Markdown, CSV (as a table), JSON, images, HTML.

Every preview treats the file as hostile. Text, JSON and CSV cells are set as text (escaped by
the browser, never parsed as HTML); Markdown is rendered with raw HTML off (tags show as text)
and without images or unsafe links; images are `<img>` from the sandboxed file route; HTML is
an `<iframe sandbox>` without `allow-same-origin` or `allow-scripts`; SVG is download-only.
"""

from __future__ import annotations

import csv
import io
import json
from itertools import islice
from typing import Any

from markdown_it import MarkdownIt
from nicegui import ui

from fastflow.ui.artifact_files import HTML, INLINE_IMAGES, file_url, suffix
from fastflow.ui.layout import tid

PREVIEW_BYTES = 256 * 1024  # the head of a big file is enough to see what it is
CSV_ROWS = 200
TEXT = {".txt", ".log", ".out", ".py", ".sh", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".sql"}
MARKDOWN = {".md", ".markdown"}
CSV = {".csv", ".tsv"}
JSON = {".json", ".jsonl", ".ndjson", ".geojson"}

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_md.disable(["image", "html_inline", "html_block"])


def kind(path: str) -> str | None:
    """'text', 'markdown', 'csv', 'json', 'image', 'html', or None (download only)."""
    ext = suffix(path)
    for name, exts in (
        ("text", TEXT),
        ("markdown", MARKDOWN),
        ("csv", CSV),
        ("json", JSON),
        ("image", INLINE_IMAGES),
        ("html", HTML),
    ):
        if ext in exts:
            return name
    return None


def head_text(chunks: Any, limit: int = PREVIEW_BYTES) -> tuple[str, bool]:
    """The first `limit` bytes of a file's chunks as text, and whether there was more."""
    buf = bytearray()
    more = False
    for chunk in chunks:
        room = limit - len(buf)
        buf += chunk[:room]
        if len(chunk) > room:
            more = True
            break
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
    return buf.decode("utf-8", errors="replace"), more


def markdown_html(text: str) -> str:
    """Markdown as HTML with raw HTML shown as text, no images, and only safe link schemes."""
    return str(_md.render(text))


def csv_table(text: str, path: str) -> tuple[list[dict[str, Any]], list[dict[str, str]], bool]:
    """(columns, rows, truncated) for a `ui.table` from CSV text."""
    dialect = "excel-tab" if suffix(path) == ".tsv" else "excel"
    reader = csv.reader(io.StringIO(text), dialect=dialect)
    header = next(reader, [])
    names = [f"c{i}" for i in range(len(header))]
    columns = [
        {"name": n, "label": h or f"column {i + 1}", "field": n, "align": "left"}
        for i, (n, h) in enumerate(zip(names, header, strict=True))
    ]
    rows = []
    for row in islice(reader, CSV_ROWS + 1):
        rows.append({n: (row[i] if i < len(row) else "") for i, n in enumerate(names)})
    truncated = len(rows) > CSV_ROWS
    return columns, rows[:CSV_ROWS], truncated


def pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text  # JSON Lines, or cut off by the preview limit: shown as it is


def render(run_id: str, path: str, text: str | None, more: bool) -> None:
    """The preview of one artifact into the current container; `text` for text kinds."""
    what = kind(path)
    note = f"First {PREVIEW_BYTES // 1024} KB shown; download for the rest." if more else None
    box = "w-full max-h-96 overflow-auto rounded bg-grey-2 p-2"
    if what == "image":
        img = ui.element("img").classes("max-w-full max-h-96 border rounded")
        img._props.update(src=file_url(run_id, path, inline=True), alt=path)
        img.props(tid("preview-image"))
    elif what == "html" and text is not None:
        ui.label("HTML preview: sandboxed, scripts do not run.").classes("text-xs text-grey-7")
        # srcdoc in a sandbox without allow-scripts or allow-same-origin: an opaque origin
        # where nothing runs. Set as a property (Vue binds it), never spliced into markup.
        frame = ui.element("iframe").classes("w-full h-96 border rounded bg-white")
        frame._props.update(sandbox="", srcdoc=text, referrerpolicy="no-referrer")
        frame.props(tid("preview-html"))
    elif what == "markdown" and text is not None:
        ui.html(markdown_html(text)).classes(f"{box} ff-markdown").props(tid("preview-markdown"))
    elif what == "csv" and text is not None:
        columns, rows, truncated = csv_table(text, path)
        ui.table(columns=columns, rows=rows).props("dense flat bordered").classes(
            "w-full max-h-96"
        ).props(tid("preview-csv"))
        if truncated:
            note = f"First {CSV_ROWS} rows shown; download for the rest."
    elif what == "json" and text is not None:
        ui.label(pretty_json(text)).classes(f"{box} ff-mono text-xs whitespace-pre").props(
            tid("preview-json")
        )
    elif text is not None:
        ui.label(text).classes(f"{box} ff-mono text-xs whitespace-pre-wrap break-all").props(
            tid("preview-text")
        )
    if note:
        ui.label(note).classes("text-xs text-grey-7")
