"""Following a run's events live: every line once, in order, then one summary line.

Following reads the SSE stream, resumes after the last seq on a dropped connection, and
fetches the lines named by `gap` events over REST, so every line is printed exactly once and
in order. It ends with the run's final state, exit code, duration and console link, and the
exit code is the run's own (like `kubectl logs -f` plus the job's status).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from fastflow.cli.client import Api, ClientError
from fastflow.cli.terminal import GREEN, RED, YELLOW, Screen
from fastflow.terminal_text import safe

RECONNECT_ATTEMPTS = 30
TERMINAL = frozenset({"SUCCESS", "FAILED", "CANCELLED", "TIMED_OUT"})


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


def exit_code(status: str, code: Any) -> int:
    """The CLI's exit code for a finished run: its own, 0 only for SUCCESS."""
    if status == "SUCCESS":
        return 0
    if isinstance(code, int) and code > 0:
        return code
    if isinstance(code, int) and code < 0:
        return 128 + min(-code, 127)  # killed by a signal, as a shell reports it
    return 1


def summary(api: Api, run: dict[str, Any], status: str, code: Any) -> tuple[str, str]:
    """One line: final state, exit code, duration, console link; and its colour."""
    kind = run.get("failure_kind")
    state = f"{status} ({kind})" if kind and status != "SUCCESS" else status
    parts = [f"run {state}", f"exit code {code if code is not None else '-'}"]
    duration = run.get("duration_seconds")
    if isinstance(duration, int | float):
        parts.append(f"{duration:.1f} s")
    parts.append(f"{api.url}/runs/{run['id']}")
    style = GREEN if status == "SUCCESS" else YELLOW if status == "CANCELLED" else RED
    return "fastflow: " + " · ".join(parts), style


class Follower:
    """Prints a run's lines from `since` on; returns the exit code when it completes."""

    def __init__(self, api: Api, run_id: str, screen: Screen) -> None:
        self.api = api
        self.run_id = run_id
        self.screen = screen
        self.cursor = 0

    def follow(self) -> int:
        failures = 0
        try:
            while True:
                try:
                    outcome = self._once()
                except httpx.TransportError as exc:
                    failures += 1
                    if failures > RECONNECT_ATTEMPTS:
                        raise ClientError(f"lost the server at {self.api.url}: {exc}", 1) from None
                    time.sleep(min(5.0, 0.2 * failures))
                    continue
                if outcome is not None:
                    return self._finish(outcome)
                failures = 0  # the stream ended without `complete` (e.g. idle): resume
        finally:
            self.screen.close()

    def _once(self) -> dict[str, Any] | None:
        headers = {"Last-Event-ID": str(self.cursor)}
        path = f"/api/runs/{self.run_id}/events"
        quiet_is_fine = httpx.Timeout(30.0, read=None)  # a quiet run is not a timeout
        with self.api.http.stream("GET", path, headers=headers, timeout=quiet_is_fine) as r:
            if r.status_code == 204:
                return {}  # over, and nothing after our cursor: the run row tells the rest
            self.api.check(r)
            for message in _parse_sse(r.iter_lines()):
                outcome = self._handle(message)
                if outcome is not None:
                    return outcome
        return None

    def _handle(self, message: _Sse) -> dict[str, Any] | None:
        if message.event in ("connected", "close"):
            return None
        data = orjson.loads(message.data)
        kind = data.get("type")
        if kind == "log":
            for line in data["lines"]:
                self._print(line)
            self.screen.end_of_batch()
        elif kind == "gap":
            self._fill(data["from_seq"], data["to_seq"])
            self.screen.end_of_batch()
        elif kind == "status" and isinstance(data.get("progress"), int):
            self.screen.progress(data["progress"], data.get("text"))
        elif kind == "error" and data["seq"] > self.cursor:
            self.screen.note(f"fastflow: {safe(str(data['error']))}", RED)
        elif kind == "complete":
            self.cursor = max(self.cursor, data["seq"])
            return dict(data)
        if isinstance(data.get("seq"), int):
            self.cursor = max(self.cursor, data["seq"])
        return None

    def _print(self, line: dict[str, Any]) -> None:
        if line["seq"] <= self.cursor:
            return  # seen before a reconnect
        self.cursor = line["seq"]
        self.screen.line(line.get("stream"), safe(line["line"]), bool(line.get("partial")))

    def _fill(self, first: int, last: int) -> None:
        start = max(first, self.cursor + 1)
        while start <= last:
            r = self.api.request(
                "GET",
                f"/api/runs/{self.run_id}/logs",
                params={"from_seq": start, "to_seq": last, "format": "json"},
            )
            rows = [orjson.loads(row) for row in r.content.splitlines() if row]
            if not rows:
                break
            for row in rows:
                self._print(row)
            start = self.cursor + 1
        self.cursor = max(self.cursor, last)

    def _finish(self, complete: dict[str, Any]) -> int:
        run = self._settled()
        status = str(complete.get("status") or run["status"])
        code = complete.get("exit_code", run.get("exit_code"))
        line, style = summary(self.api, run, status, code)
        self.screen.close()
        self.screen.note(line, style)
        return exit_code(status, code)

    def _settled(self) -> dict[str, Any]:
        """The run's row once the server has recorded its end (a moment after `complete`)."""
        deadline = time.monotonic() + 5
        while True:
            run: dict[str, Any] = self.api.get(f"/api/runs/{self.run_id}")
            if run["status"] in TERMINAL or time.monotonic() > deadline:
                return run
            time.sleep(0.1)


def print_log(api: Api, run_id: str, screen: Screen) -> int:
    """The run's log so far; the exit code is the run's when it has finished, else 0."""
    r = api.request("GET", f"/api/runs/{run_id}/logs/download")
    screen.out.write(safe(r.text))  # newlines and tabs stay; other controls are shown escaped
    screen.out.flush()
    run: dict[str, Any] = api.get(f"/api/runs/{run_id}")
    if run["status"] not in TERMINAL:
        return 0
    return exit_code(run["status"], run.get("exit_code"))
