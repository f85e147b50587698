"""A worker's HTTP calls to the server: bundles, a run's secrets, a run's artifacts.

Every call carries the worker token and the worker's id (the server checks the id against the
run's claim). A server that is restarting answers nothing or 502/503/504 for a while; calls
wait for it up to `patience` seconds before they fail, so a rolling server restart does not
fail the runs that start meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from fastflow.events.recorder import RunRecorder
from fastflow.secrets.service import RunSecrets

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({502, 503, 504})
_CHUNK = 256 * 1024


class ServerError(RuntimeError):
    """The server refused a call (4xx) or stayed unreachable longer than the patience."""


class ServerApi:
    """The server's worker routes, for one worker process.

    One HTTP client (a connection pool, thread-safe) serves every run of the process: a run
    reuses a kept-alive connection instead of paying a TCP (and TLS) handshake and a new
    client's set-up per call."""

    def __init__(self, base_url: str, token: str, worker_id: str, patience: float = 120.0):
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}", "X-Fastflow-Worker": worker_id}
        self.patience = patience
        self._client = httpx.Client(timeout=60.0)

    def close(self) -> None:
        self._client.close()

    def _request(
        self, method: str, path: str, body: Path | None = None, **kwargs: Any
    ) -> httpx.Response:
        deadline = time.monotonic() + self.patience
        headers = {**self.headers, **kwargs.pop("headers", {})}
        while True:
            try:
                content = _file_chunks(body) if body is not None else None
                response = self._client.request(
                    method, self.base_url + path, headers=headers, content=content, **kwargs
                )
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in _RETRY_STATUS:
                    raise ServerError(f"HTTP {response.status_code}: {_detail(response)}")
                problem = f"HTTP {response.status_code}: {_detail(response)}"
            if time.monotonic() > deadline:
                raise ServerError(f"the server did not answer for {self.patience:g}s: {problem}")
            log.warning("%s %s: %s; retrying", method, path, problem)
            time.sleep(1.0)

    def bundle(self, sha: str) -> bytes:
        """The pipeline bundle `sha` (a tar.gz)."""
        return self._request("GET", f"/api/bundles/{sha}").content

    def run_secrets(self, run_id: str) -> RunSecrets:
        """What the secrets store gives the run; the server checks this worker claimed it."""
        body = self._request("GET", f"/api/worker/runs/{run_id}/secrets").json()
        env = {str(k): str(v) for k, v in body["env"].items()}
        return RunSecrets(env=env, secret_keys=frozenset(body["secret_keys"]) & set(env))

    def upload_artifacts(self, run_id: str, folder: Path, recorder: RunRecorder) -> list[str]:
        """Send every file under `folder` (streamed, with size and SHA-256); the kept names.

        A file that cannot be sent is reported in the run's log and skipped; never raises.
        """
        kept: list[str] = []
        if not folder.is_dir():
            return kept
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder).as_posix()
            if path.is_symlink():  # never follow: it could point anywhere on this machine
                recorder.system(f"artifact {name!r} is a symbolic link; not kept")
                continue
            if not path.is_file():
                continue
            try:
                self._request(
                    "PUT",
                    f"/api/worker/runs/{run_id}/artifacts/{quote(name)}",
                    body=path,
                    headers={
                        "X-Content-SHA256": _sha256(path),
                        "Content-Length": str(path.stat().st_size),
                    },
                )
            except (ServerError, OSError) as exc:
                recorder.error(f"artifact {name!r} was not kept: {exc}")
                continue
            kept.append(name)
        return kept


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])[:300]
    except (ValueError, KeyError, TypeError):
        return response.text[:300]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk
