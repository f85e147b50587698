from __future__ import annotations

from pathlib import Path

import pytest

from fastflow.errors import InvalidInputError, NotFoundError
from fastflow.pipelines.config import parse_size
from fastflow.pipelines.discovery import PipelineCatalog, check_name
from fastflow.pipelines.inline import parse_inline_metadata


def _tree(root: Path) -> None:
    (root / "folder").mkdir(parents=True)
    (root / "folder" / "main.py").write_text("print(1)")
    (root / "folder" / "requirements.txt").write_text("six\n")
    (root / "single.py").write_text("# /// script\n# dependencies = ['six']\n# ///\nprint(1)")
    (root / "broken").mkdir()
    (root / "broken" / "main.py").write_text("print(1)")
    (root / "broken" / "pipeline.json").write_text('{"timeout": "soon"}')
    (root / "typo.py").write_text("print(1)")
    (root / "typo.json").write_text('{"timout": 5}')
    (root / "notjson.py").write_text("print(1)")
    (root / "notjson.json").write_text("{oops")
    (root / "bad name.py").write_text("print(1)")
    (root / ".hidden.py").write_text("print(1)")
    (root / "nomain").mkdir()
    (root / "dup").mkdir()
    (root / "dup" / "main.py").write_text("print(1)")
    (root / "dup.py").write_text("print(1)")


def test_discovery_finds_both_kinds_and_marks_invalid_ones(tmp_path: Path) -> None:
    _tree(tmp_path)
    found = PipelineCatalog(tmp_path).scan()
    assert set(found) == {"folder", "single", "broken", "typo", "notjson", "dup"}
    assert found["folder"].valid and found["folder"].has_requirements
    assert found["single"].kind == "file" and found["single"].inline is not None
    assert found["single"].inline.dependencies == ["six"]
    assert "timeout" in (found["broken"].error or "")
    assert "timout" in (found["typo"].error or "")
    assert "invalid JSON" in (found["notjson"].error or "")
    assert "remove one" in (found["dup"].error or "")


def test_get_checks_the_name_before_touching_the_disk(tmp_path: Path) -> None:
    _tree(tmp_path)
    catalog = PipelineCatalog(tmp_path)
    assert catalog.get("folder").valid
    for bad in ("../etc", "/abs", "a/b", "..", ".hidden", "bad name", "x\x00y", ""):
        with pytest.raises(InvalidInputError):
            catalog.get(bad)
    with pytest.raises(NotFoundError):
        catalog.get("absent")
    assert check_name("ok_name-1.2") == "ok_name-1.2"


def test_fingerprint_changes_with_requirements(tmp_path: Path) -> None:
    _tree(tmp_path)
    catalog = PipelineCatalog(tmp_path)
    before = catalog.get("folder").dependencies_fingerprint()
    (tmp_path / "folder" / "requirements.txt").write_text("six==1.16.0\n")
    assert catalog.get("folder").dependencies_fingerprint() != before


def test_sizes_and_inline_metadata() -> None:
    assert parse_size("512m") == 512 * 1024**2
    assert parse_size("1g") == 1024**3
    assert parse_size("1.5G") == int(1.5 * 1024**3)
    assert parse_size(1000) == 1000
    for bad in ("lots", "-1m", "0", True):
        with pytest.raises(ValueError):
            parse_size(bad)  # type: ignore[arg-type]
    assert parse_inline_metadata("print(1)") is None
    with pytest.raises(ValueError, match="invalid TOML"):
        parse_inline_metadata("# /// script\n# dependencies = [\n# ///\n")
