"""One contract suite over every object store: the local folder and S3 (on a stand-in server)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastflow.errors import InvalidInputError, NotFoundError
from fastflow.storage.objects import ObjectStore
from fastflow.storage.objects.local import LocalObjectStore
from fastflow.storage.objects.s3 import S3ObjectStore
from tests.support.s3 import S3StandIn


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield LocalObjectStore(tmp_path / "objects")
        return
    s3: S3StandIn = request.getfixturevalue("s3_server")
    bucket = s3.new_bucket()
    store = S3ObjectStore(
        bucket,
        endpoint_url=s3.endpoint_url,
        region=s3.region,
        access_key_id=s3.access_key_id,
        secret_access_key=s3.secret_access_key,
        prefix="tenant-a",
    )
    store.check()
    yield store


def test_files_round_trip_byte_for_byte(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # over one chunk, odd size
    source = tmp_path / "in.bin"
    source.write_bytes(data)
    store.put_file("runs/r1/artifacts/deep/out.bin", source)
    target = tmp_path / "out" / "copy.bin"
    store.get_file("runs/r1/artifacts/deep/out.bin", target)
    assert target.read_bytes() == data
    assert b"".join(store.iter_bytes("runs/r1/artifacts/deep/out.bin", 100_000)) == data
    assert store.exists("runs/r1/artifacts/deep/out.bin")


def test_list_and_delete_by_prefix(store: ObjectStore) -> None:
    store.put_bytes("runs/r1/artifacts/a.txt", b"a")
    store.put_bytes("runs/r1/log.jsonl", b"{}\n")
    store.put_bytes("runs/r10/artifacts/b.txt", b"bb")  # shares the text prefix "runs/r1"
    listed = store.list("runs/r1/")
    assert [(o.key, o.size) for o in listed] == [
        ("runs/r1/artifacts/a.txt", 1),
        ("runs/r1/log.jsonl", 3),
    ]
    assert store.delete_prefix("runs/r1/") == 2
    assert store.list("runs/r1/") == []
    assert not store.exists("runs/r1/log.jsonl")
    assert [o.key for o in store.list("runs/r10/")] == ["runs/r10/artifacts/b.txt"]
    assert store.delete_prefix("runs/nothing/") == 0


def test_put_replaces(store: ObjectStore) -> None:
    store.put_bytes("uploads/u/source.py", b"old")
    store.put_bytes("uploads/u/source.py", b"new")
    assert b"".join(store.iter_bytes("uploads/u/source.py")) == b"new"


def test_missing_objects_are_not_found(store: ObjectStore, tmp_path: Path) -> None:
    assert not store.exists("runs/x/none")
    with pytest.raises(NotFoundError):
        store.get_file("runs/x/none", tmp_path / "none")
    with pytest.raises(NotFoundError):
        store.iter_bytes("runs/x/none")


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../up", "a/../../b", "a//b", "a\\b", "./a", "a/", "nul\0"]
)
def test_keys_never_leave_their_prefix(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidInputError):
        store.put_bytes(key, b"x")
