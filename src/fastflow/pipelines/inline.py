"""PEP 723 inline script metadata (`# /// script` blocks), as `uv run` reads them."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

# The reference regular expression from PEP 723.
_BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


@dataclass(frozen=True)
class InlineMetadata:
    dependencies: list[str] = field(default_factory=list)
    requires_python: str | None = None


def parse_inline_metadata(source: str) -> InlineMetadata | None:
    """The script block of a single-file pipeline, or None; ValueError when it is malformed."""
    blocks = [m for m in _BLOCK.finditer(source) if m.group("type") == "script"]
    if not blocks:
        return None
    if len(blocks) > 1:
        raise ValueError("more than one '# /// script' block")
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in blocks[0].group("content").splitlines(keepends=True)
    )
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"invalid TOML in '# /// script' block: {exc}") from None
    deps = data.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise ValueError("'dependencies' in the script block must be a list of strings")
    rp = data.get("requires-python")
    if rp is not None and not isinstance(rp, str):
        raise ValueError("'requires-python' in the script block must be a string")
    return InlineMetadata(dependencies=deps, requires_python=rp)
