"""`fastflow run` and `fastflow logs`: talk to a fastflow server, follow a run's lines live.

Following reads the SSE stream, resumes after the last seq on a dropped connection, and
fetches the lines named by `gap` events over REST, so every line is printed exactly once and
in order. The exit code is the run's (like `kubectl logs -f` plus the job's status).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import httpx
import orjson

from fastflow.terminal_text import safe

RECONNECT_ATTEMPTS = 30
_PAGE = 100_000  # the logs route's largest page


class ClientError(Exception):
    """A problem to report in one line; `code` is the CLI's exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def connect(url: str, token: str | None) -> httpx.Client:
    if not token:
        raise ClientError(
            "no token: pass --token or set FASTFLOW_TOKEN (get one with POST /api/auth/login)"
        )
    return httpx.Client(
        base_url=url.rstrip("/"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(30.0, read=None),  # a quiet run is not a timeout
    )


def check(response: httpx.Response) -> httpx.Response:
    """The response, or ClientError with the server's own explanation."""
    if response.is_success:
        return response
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    raise ClientError(f"{response.request.method} {response.url.path}: {detail}")


def parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ClientError(f"parameter {pair!r} must look like key=value")
        params[key] = value
    return params


def start_run(client: httpx.Client, pipeline: str, params: dict[str, str]) -> dict[str, Any]:
    r = client.post(f"/api/pipelines/{pipeline}/run", json={"parameters": params})
    run: dict[str, Any] = check(r).json()
    return run


@dataclass
class _Sse:
    event: str
    data: bytes


def _parse_sse(lines: Iterator[str]) -> Iterator[_Sse]:
    """Minimal SSE framing: `event:` and `data:` fields, blank line ends an event."""
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield _Sse(event, "\n".join(data).encode())
            event, data = "message", list[str]()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


class Follower:
    """Prints a run's lines from `since` on; returns the exit code when it completes."""

    def __init__(
        self, client: httpx.Client, run_id: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.out = out
        self.err = err
        self.cursor = 0

    def follow(self) -> int:
        failures = 0
        while True:
            try:
                code = self._once()
            except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
                failures += 1
                if failures > RECONNECT_ATTEMPTS:
                    raise ClientError(f"lost the server: {exc}", 1) from None
                time.sleep(min(5.0, 0.2 * failures))
                continue
            if code is not None:
                return code
            failures = 0  # the stream ended without `complete` (e.g. idle): resume

    def _once(self) -> int | None:
        headers = {"Last-Event-ID": str(self.cursor)}
        path = f"/api/runs/{self.run_id}/events"
        with self.client.stream("GET", path, headers=headers) as r:
            if r.status_code == 204:
                return self._final_code()
            if not r.is_success:
                r.read()
                check(r)
            for message in _parse_sse(r.iter_lines()):
                code = self._handle(message)
                if code is not None:
                    return code
        return None

    def _handle(self, message: _Sse) -> int | None:
        if message.event in ("connected", "close", "status"):
            return None
        data = orjson.loads(message.data)
        kind = data.get("type")
        if kind == "log":
            for line in data["lines"]:
                self._print(line)
        elif kind == "gap":
            self._fill(data["from_seq"], data["to_seq"])
        elif kind == "error" and data["seq"] > self.cursor:
            self.err.write(f"fastflow: {safe(data['error'])}\n")
        elif kind == "complete":
            self.cursor = max(self.cursor, data["seq"])
            self.out.flush()
            return _exit_code(data)
        if isinstance(data.get("seq"), int):
            self.cursor = max(self.cursor, data["seq"])
        return None

    def _print(self, line: dict[str, Any]) -> None:
        if line["seq"] <= self.cursor:
            return  # seen before a reconnect
        self.cursor = line["seq"]
        text = safe(line["line"]) if line.get("partial") else safe(line["line"]) + "\n"
        stream = line.get("stream")
        if stream == "stdout":
            self.out.write(text)
        else:
            self.err.write(f"[{stream}] {text}" if stream in ("setup", "system") else text)

    def _fill(self, first: int, last: int) -> None:
        start = max(first, self.cursor + 1)
        while start <= last:
            r = check(
                self.client.get(
                    f"/api/runs/{self.run_id}/logs",
                    params={"from_seq": start, "to_seq": last, "format": "json"},
                )
            )
            rows = [orjson.loads(row) for row in r.content.splitlines() if row]
            if not rows:
                break
            for row in rows:
                self._print(row)
            start = self.cursor + 1
        self.cursor = max(self.cursor, last)

    def _final_code(self) -> int:
        run = check(self.client.get(f"/api/runs/{self.run_id}")).json()
        return _exit_code({"success": run["status"] == "SUCCESS", "exit_code": run["exit_code"]})


def _exit_code(complete: dict[str, Any]) -> int:
    code = complete.get("exit_code")
    if isinstance(code, int) and (code != 0 or complete.get("success")):
        return code
    return 0 if complete.get("success") else 1


def print_logs(client: httpx.Client, run_id: str, out: TextIO = sys.stdout) -> None:
    """The run's log so far as text."""
    r = check(client.get(f"/api/runs/{run_id}/logs/download"))
    out.write(safe(r.text))  # newlines and tabs stay; other controls are shown escaped
