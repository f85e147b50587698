"""Uploaded sources: every kind of bad zip is refused with a clear 4xx; good ones unpack."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from fastflow.builds.service import default_name
from fastflow.builds.validation import UploadLimits, check_upload, unpack
from fastflow.errors import FastflowError

LIMITS = UploadLimits(max_bytes=5 * 1024 * 1024, max_unpacked_bytes=20 * 1024 * 1024, max_ratio=100)


def _zip(tmp_path: Path, entries: dict[str, bytes], name: str = "src.zip") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for member, data in entries.items():
            z.writestr(member, data)
    return path


def _refused(filename: str, path: Path, status: int, words: str) -> None:
    with pytest.raises(FastflowError) as err:
        check_upload(filename, path, LIMITS)
    assert err.value.status_code == status
    assert words in err.value.message


def test_a_zip_with_main_at_the_top_unpacks(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"main.py": b"print(1)\n", "lib/util.py": b"X = 1\n"})
    checked = check_upload("src.zip", path, LIMITS)
    unpack(path, checked, tmp_path / "out", LIMITS)
    assert (tmp_path / "out" / "main.py").read_bytes() == b"print(1)\n"
    assert (tmp_path / "out" / "lib" / "util.py").is_file()


def test_a_zipped_folder_is_unwrapped(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"job/main.py": b"print(1)\n", "job/requirements.txt": b""})
    checked = check_upload("src.zip", path, LIMITS)
    unpack(path, checked, tmp_path / "out", LIMITS)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["main.py", "requirements.txt"]


@pytest.mark.parametrize(
    "member",
    ["../evil.py", "/abs/evil.py", "a/../../evil.py", "C:/evil.py", "a\\..\\evil.py"],
)
def test_zip_slip_is_refused(tmp_path: Path, member: str) -> None:
    path = _zip(tmp_path, {"main.py": b"", member: b"x"})
    _refused("src.zip", path, 422, "outside the archive")


def test_symlinks_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "src.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("main.py", b"")
        link = zipfile.ZipInfo("passwd")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
    _refused("src.zip", path, 422, "symbolic link")


def test_a_zip_bomb_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"main.py": b"", "zeros.bin": bytes(10 * 1024 * 1024)})
    _refused("src.zip", path, 422, "compression ratio")


def test_too_much_unpacked_data_is_refused(tmp_path: Path) -> None:
    entries = {"main.py": b""} | {f"r{i}.bin": os.urandom(3 * 1024 * 1024) for i in range(8)}
    path = tmp_path / "src.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for k, v in entries.items():
            z.writestr(k, v)
    limits = UploadLimits(
        max_bytes=100 * 1024 * 1024, max_unpacked_bytes=10 * 1024 * 1024, max_ratio=100
    )
    with pytest.raises(FastflowError) as err:
        check_upload("src.zip", path, limits)
    assert err.value.status_code == 413


def test_non_utf8_member_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "src.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("main.py", b"")
        z.writestr("QQQQ.txt", b"data")
    # Patch the stored name to raw latin-1 bytes without the UTF-8 flag (as old tools write).
    raw = path.read_bytes().replace(b"QQQQ", b"caf\xe9")
    path.write_bytes(raw)
    _refused("src.zip", path, 422, "not UTF-8")


def test_utf8_member_names_are_fine(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"main.py": b"", "daten/übersicht.csv": b"a,b\n"})
    checked = check_upload("src.zip", path, LIMITS)
    assert {str(m.path) for m in checked.members} == {"main.py", "daten/übersicht.csv"}


def test_no_main_py(tmp_path: Path) -> None:
    _refused("src.zip", _zip(tmp_path, {"app.py": b""}), 422, "no main.py")
    _refused(
        "src.zip", _zip(tmp_path, {"a/main.py": b"", "b/x.py": b""}, "two.zip"), 422, "no main.py"
    )


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "src.zip"
    path.write_bytes(b"this is text, not a zip")
    _refused("src.zip", path, 422, "not a zip")


def test_other_file_types_and_bad_python(tmp_path: Path) -> None:
    path = tmp_path / "x.tar.gz"
    path.write_bytes(b"x")
    _refused("x.tar.gz", path, 422, ".py file or a .zip")
    py = tmp_path / "bad.py"
    py.write_bytes(b"print('\xff')\n")
    _refused("bad.py", py, 422, "not valid UTF-8")


def test_over_the_size_limit(tmp_path: Path) -> None:
    py = tmp_path / "big.py"
    py.write_bytes(b"#" * (LIMITS.max_bytes + 1))
    _refused("big.py", py, 413, "over the limit")


def test_default_names_are_valid_pipeline_names() -> None:
    assert default_name("my job.zip") == "my_job"
    assert default_name("C:\\Users\\x\\report.py") == "report"
    assert default_name("...py") == "build"
