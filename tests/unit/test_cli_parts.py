"""Parts of the `fastflow` command that need no server: help text, the server's answers turned
into sentences, the profile file, exit codes."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fastflow import __version__
from fastflow.cli import app, profile
from fastflow.cli.client import Api, ClientError
from fastflow.cli.follow import exit_code
from fastflow.cli.terminal import progress_bar


def _help(*args: str) -> str:
    result = CliRunner().invoke(
        app, [*args, "--help"], env={"COLUMNS": "100"}, prog_name="fastflow"
    )
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # wrapped lines joined again


def test_help_keeps_every_word_and_names_types_as_people_do() -> None:
    run = _help("run")
    assert "Usage: fastflow run [OPTIONS] PIPELINE" in run
    assert "-p, --param KEY=VALUE" in run and "--params JSON" in run
    assert "[default: the one you logged in to, else http://127.0.0.1:8000]" in run
    assert "[env var: FASTFLOW_URL]" in run and "[env var: FASTFLOW_TOKEN]" in run
    assert "-f, --follow Print" in run
    every = " ".join(
        _help(*cmd)
        for cmd in (
            (),
            ("runs", "ls"),
            ("serve",),
            ("worker",),
            ("backup",),
            ("user", "create"),
            ("user", "link-sso"),
            ("login",),
        )
    )
    assert not re.search(r"<(str|int|bool|float|list\[str\]|int range|path)>", every), every
    assert "{" not in every  # `{NAME}` is no notation people read
    assert "--port PORT" in every and "[env FASTFLOW_PORT; default 8000]" in every
    assert "--passphrase-file PATH" in every
    assert "[default: env FASTFLOW_BACKUP_PASSPHRASE]" in every
    assert "--role [admin|operator|viewer]" in every
    assert "--install-completion" in every  # shell completion


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"fastflow {__version__}\n"


def _api(handler: httpx.MockTransport, from_profile: bool = False) -> Api:
    api = Api(profile.Target("http://ff.example", "t", from_profile))
    api.http = httpx.Client(base_url=api.url, transport=handler)
    return api


@pytest.mark.parametrize(
    ("status", "body", "headers", "says"),
    [
        (502, "<html>Bad gateway</html>", {"content-type": "text/html"}, "answered 502 with "),
        (200, "not json", {"content-type": "application/json"}, "not fastflow's JSON"),
        (403, '{"detail": "this needs the operator role; you are viewer"}', {}, "not allowed: "),
        (429, '{"detail": "the queue is full"}', {"retry-after": "3"}, "try again in 3 s"),
        (404, '{"detail": "run \'x\' not found"}', {}, "run 'x' not found"),
        (401, '{"detail": "token expired"}', {}, "refused the token (token expired)"),
    ],
)
def test_answers_become_a_sentence(
    status: int, body: str, headers: dict[str, str], says: str
) -> None:
    headers = {"content-type": "application/json", **headers}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body.encode(), headers=headers)

    with pytest.raises(ClientError) as err, _api(httpx.MockTransport(answer)) as api:
        api.get("/api/runs/x")
    message = str(err.value)
    assert says in message and len(message.splitlines()) <= 2, message


def test_an_expired_login_says_to_log_in_again() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"detail": "token expired"})

    with pytest.raises(ClientError) as err, _api(httpx.MockTransport(answer), True) as api:
        api.get("/api/runs")
    assert "fastflow login --url http://ff.example" in str(err.value)


def test_profile_is_private_and_only_for_its_own_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert profile.load() is None
    path = profile.save(profile.Profile("http://a:1", "tok", "ann"))
    assert path == tmp_path / "xdg" / "fastflow" / "profile.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert profile.resolve(None, None) == profile.Target("http://a:1", "tok", True)
    assert profile.resolve("a:1/", None).token == "tok"
    assert profile.resolve("http://b:2", None).token is None  # never sent elsewhere
    assert profile.resolve(None, "given") == profile.Target("http://a:1", "given", False)
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    assert profile.config_dir() == Path.home() / ".config" / "fastflow"


def test_exit_codes_and_the_bar() -> None:
    assert exit_code("SUCCESS", 0) == 0
    assert exit_code("FAILED", 3) == 3
    assert exit_code("CANCELLED", -15) == 143  # as a shell reports a signal
    assert exit_code("FAILED", None) == 1 and exit_code("TIMED_OUT", 0) == 1
    bar = progress_bar(45, "Compiling", 72, 80)
    assert bar.startswith("━" * 13 + "─" * 17) and bar.endswith(" 45%  Compiling  1:12")
