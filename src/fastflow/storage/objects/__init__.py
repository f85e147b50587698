"""Object storage for uploaded sources, artifacts and archived logs: one small interface."""

from __future__ import annotations

from fastflow.storage.objects.base import ObjectInfo, ObjectStore, check_key
from fastflow.storage.objects.factory import build_object_store

__all__ = ["ObjectInfo", "ObjectStore", "build_object_store", "check_key"]
