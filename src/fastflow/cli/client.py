"""Talking to a fastflow server: every failure becomes one or two lines a person understands.

`Api` wraps an httpx client: a server that cannot be reached, a token it refuses, a role that
is not enough, an answer that is not fastflow's JSON and a 404 each raise `ClientError` with
what happened and what to do next — never a traceback.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from fastflow.cli.profile import Target

LOGIN_HINT = "run `fastflow login --url URL --username NAME`, or set FASTFLOW_TOKEN"


class ClientError(Exception):
    """A problem to report in a line or two; `code` is the CLI's exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name"
    return text.split("] ", 1)[-1]


def unreachable(url: str, exc: httpx.TransportError) -> ClientError:
    return ClientError(
        f"cannot reach the fastflow server at {url} ({_reason(exc)}).\n"
        "Is `fastflow serve` running there? Point the CLI at your server with "
        "`fastflow login --url URL` or FASTFLOW_URL."
    )


def _detail(response: httpx.Response) -> str | None:
    """The server's own sentence (`{"detail": "..."}`), or None for a non-fastflow answer."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) and detail else None


class Api:
    """An HTTP client for one server and token; use as a context manager."""

    def __init__(self, target: Target, need_token: bool = True) -> None:
        if need_token and not target.token:
            raise ClientError(f"not logged in to {target.url}: {LOGIN_HINT}")
        self.target = target
        headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
        self.http = httpx.Client(
            base_url=target.url,
            headers=headers,
            timeout=httpx.Timeout(30.0, read=120.0),
        )

    @property
    def url(self) -> str:
        return self.target.url

    def __enter__(self) -> Api:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise unreachable(self.url, exc) from None
        return self.check(response)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.json(self.request("GET", path, **kwargs))

    def post(self, path: str, **kwargs: Any) -> Any:
        response = self.request("POST", path, **kwargs)
        return None if response.status_code == 204 else self.json(response)

    def json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise self.not_fastflow(response) from None

    def not_fastflow(self, response: httpx.Response) -> ClientError:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        return ClientError(
            f"{self.url} answered {response.status_code} with {kind}, not fastflow's JSON.\n"
            "Is this the address of a fastflow server (not a proxy's error page)?"
        )

    def check(self, response: httpx.Response) -> httpx.Response:
        """The response when it succeeded, else ClientError naming what to do."""
        if response.is_success:
            return response
        response.read()
        detail = _detail(response)
        status = response.status_code
        if detail is None:
            raise self.not_fastflow(response)
        if status == 401:
            raise ClientError(self._refused(detail))
        if status == 403:
            raise ClientError(f"not allowed: {detail}.\nAsk an admin for a role that may do it.")
        if status == 429:
            wait = response.headers.get("retry-after")
            later = f" (try again in {wait} s)" if wait else ""
            raise ClientError(f"{detail}{later}")
        if status >= 500:
            raise ClientError(f"the server failed ({status}): {detail}", code=1)
        raise ClientError(detail)

    def _refused(self, detail: str) -> str:
        if self.target.from_profile:
            return (
                f"the server no longer accepts your login ({detail}).\n"
                f"Log in again: fastflow login --url {self.url}"
            )
        return (
            f"the server refused the token ({detail}).\n"
            "Check --token / FASTFLOW_TOKEN, or run `fastflow login`."
        )
