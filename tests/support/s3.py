"""A real S3-compatible HTTP server on loopback for tests: moto's server, a STAND-IN for
AWS S3 / MinIO. The code under test talks to it over HTTP with boto3 exactly as to S3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from tests.support.server import free_port


@dataclass
class S3StandIn:
    endpoint_url: str
    access_key_id: str = "stand-in-key"
    secret_access_key: str = "stand-in-secret"
    region: str = "us-east-1"

    def new_bucket(self) -> str:
        import boto3

        name = f"fastflow-{uuid.uuid4().hex[:12]}"
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )
        client.create_bucket(Bucket=name)
        return name

    def env(self, bucket: str) -> dict[str, str]:
        """Settings overrides that point fastflow at this server."""
        return {
            "OBJECT_STORE": "s3",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_REGION": self.region,
            "S3_ACCESS_KEY_ID": self.access_key_id,
            "S3_SECRET_ACCESS_KEY": self.secret_access_key,
        }


def s3_stand_in() -> Iterator[S3StandIn]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3StandIn(f"http://127.0.0.1:{port}")
    finally:
        server.stop()
