"""Finds pipelines under PIPELINES_DIR: folders with main.py and single .py files.

A pipeline that cannot be used (malformed pipeline.json, broken inline metadata) is still
listed, marked invalid with the reason, and never hides the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from pydantic import ValidationError

from fastflow.errors import InvalidInputError, NotFoundError
from fastflow.pipelines.config import PipelineConfig
from fastflow.pipelines.inline import InlineMetadata, parse_inline_metadata

log = logging.getLogger(__name__)

NAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_NAME = re.compile(rf"^{NAME_PATTERN}$")
MAX_NAME_LENGTH = 200


def check_name(name: str) -> str:
    """A pipeline name or InvalidInputError; a name is never resolved as a path."""
    if len(name) > MAX_NAME_LENGTH or not _NAME.match(name):
        raise InvalidInputError(
            f"invalid pipeline name {name!r}: use letters, digits, '_', '.', '-' "
            "(not starting with '.' or '-')"
        )
    return name


@dataclass
class PipelineDefinition:
    """Everything discovery knows about one pipeline."""

    name: str
    kind: str  # "folder" | "file"
    path: Path
    entrypoint: Path
    requirements_file: Path | None = None
    config: PipelineConfig = field(default_factory=PipelineConfig)
    inline: InlineMetadata | None = None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.error is None

    @property
    def has_requirements(self) -> bool:
        return self.requirements_file is not None or bool(self.inline and self.inline.dependencies)

    def dependencies_fingerprint(self) -> str:
        """What decides the environment: requirements file text, inline deps, Python spec."""
        h = hashlib.sha256()
        if self.requirements_file is not None:
            h.update(b"req\0" + self.requirements_file.read_bytes())
        if self.inline is not None:
            h.update(b"inline\0" + json.dumps(self.inline.dependencies).encode())
            h.update(b"py\0" + (self.inline.requires_python or "").encode())
        return h.hexdigest()


def _load_config(path: Path) -> tuple[PipelineConfig, str | None]:
    try:
        # orjson: nesting past 1024 levels is an error, not a RecursionError.
        raw = orjson.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return PipelineConfig(), f"{path.name}: not valid UTF-8"
    except json.JSONDecodeError as exc:
        return PipelineConfig(), f"{path.name}: invalid JSON: {exc.msg} (line {exc.lineno})"
    if not isinstance(raw, dict):
        return PipelineConfig(), f"{path.name}: must be a JSON object"
    try:
        return PipelineConfig.model_validate(raw), None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        return PipelineConfig(), f"{path.name}: {problems}"


def _folder_pipeline(name: str, folder: Path) -> PipelineDefinition:
    req = folder / "requirements.txt"
    p = PipelineDefinition(
        name=name,
        kind="folder",
        path=folder,
        entrypoint=folder / "main.py",
        requirements_file=req if req.is_file() else None,
    )
    meta = folder / "pipeline.json"
    if meta.is_file():
        p.config, p.error = _load_config(meta)
    return p


def _file_pipeline(name: str, file: Path) -> PipelineDefinition:
    p = PipelineDefinition(name=name, kind="file", path=file, entrypoint=file)
    try:
        p.inline = parse_inline_metadata(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        p.error = f"{file.name}: not valid UTF-8"
    except ValueError as exc:
        p.error = f"{file.name}: {exc}"
    meta = file.with_suffix(".json")
    if meta.is_file():
        p.config, error = _load_config(meta)
        p.error = p.error or error
    return p


def load_definition(name: str, path: Path) -> PipelineDefinition:
    """A pipeline outside PIPELINES_DIR (an unpacked build): a folder with main.py or a file."""
    check_name(name)
    return _folder_pipeline(name, path) if path.is_dir() else _file_pipeline(name, path)


class PipelineCatalog:
    """Discovery over one directory; cheap enough to rescan on every request."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def scan(self) -> dict[str, PipelineDefinition]:
        """All pipelines by name, sorted; invalid ones included with their error."""
        found: dict[str, PipelineDefinition] = {}
        if not self.root.is_dir():
            return found
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith((".", "_")):
                continue
            build: Callable[[str, Path], PipelineDefinition]
            if entry.is_dir() and (entry / "main.py").is_file():
                name = entry.name
                build = _folder_pipeline
            elif entry.is_file() and entry.suffix == ".py":
                name = entry.stem
                build = _file_pipeline
            else:
                continue
            if not _NAME.match(name) or len(name) > MAX_NAME_LENGTH:
                log.warning("pipeline %r skipped: its name is not allowed", entry.name)
                continue
            if name in found:
                found[name].error = f"both {name}/ and {name}.py exist; remove one"
                continue
            found[name] = build(name, entry)
        return found

    def get(self, name: str) -> PipelineDefinition:
        """One pipeline by name (NotFoundError if absent), without scanning the rest."""
        check_name(name)
        folder, file = self.root / name, self.root / f"{name}.py"
        if folder.is_dir() and (folder / "main.py").is_file():
            p = _folder_pipeline(name, folder)
            if file.is_file():
                p.error = f"both {name}/ and {name}.py exist; remove one"
            return p
        if file.is_file():
            return _file_pipeline(name, file)
        raise NotFoundError(f"pipeline {name!r} not found in the pipelines folder")
