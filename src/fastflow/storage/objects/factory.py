"""Chooses the object store from settings."""

from __future__ import annotations

from fastflow.errors import ConfigError
from fastflow.extras import S3, require
from fastflow.settings import ObjectStoreKind, Settings
from fastflow.storage.objects.base import ObjectStore
from fastflow.storage.objects.local import LocalObjectStore


def build_object_store(settings: Settings) -> ObjectStore:
    """The local folder under DATA_DIR, or the configured S3-compatible bucket."""
    if settings.object_store is ObjectStoreKind.LOCAL:
        return LocalObjectStore(settings.objects_dir)
    if not settings.s3_bucket:
        raise ConfigError("OBJECT_STORE=s3 needs S3_BUCKET (and usually S3_ENDPOINT_URL)")
    require("OBJECT_STORE=s3", S3)
    from fastflow.storage.objects.s3 import S3ObjectStore

    return S3ObjectStore(
        settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
        prefix=settings.s3_prefix,
    )
