"""`fastflow pipelines ls` and `fastflow runs ls|show|cancel|retry`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from fastflow.cli.client import Api
from fastflow.cli.help import command, new_app
from fastflow.cli.options import AsJson, ServerUrl, Token, connect, reporting
from fastflow.cli.remote import follow_run
from fastflow.cli.tables import as_json, cut, duration, fields, status, table, when
from fastflow.cli.terminal import wants_colour

pipelines_app = new_app("Pipelines on the server.")
runs_app = new_app("Runs on the server: list, show, cancel, retry, artifacts.")

RunId = Annotated[str, typer.Argument(metavar="RUN_ID", help="The run's id")]


def _colour() -> bool:
    return wants_colour(sys.stdout)


def _pipeline_state(p: dict[str, Any]) -> str:
    if not p.get("valid", True):
        return "invalid"
    return "ready" if p.get("enabled", True) else "disabled"


@command(pipelines_app, "ls")
def pipelines_ls(as_json_: AsJson = False, url: ServerUrl = None, token: Token = None) -> None:
    """List the pipelines: state, runs, success rate, last run, description."""
    with reporting(), connect(url, token) as api:
        found: list[dict[str, Any]] = api.get("/api/pipelines")
    if as_json_:
        typer.echo(as_json(found))
        return
    colour = _colour()
    rows = []
    for p in found:
        stats, last = p.get("stats") or {}, p.get("last_run")
        rate = stats.get("success_rate")
        rows.append(
            [
                p["name"],
                status(_pipeline_state(p), colour),
                str(stats.get("total_runs", 0)),
                "-" if rate is None else f"{rate * 100:.0f}%",
                f"{status(last['status'], colour)} {when(last['created_at'])}" if last else "-",
                cut(p.get("error") if not p.get("valid", True) else p.get("description"), 60),
            ]
        )
    if not rows:
        typer.echo("No pipelines: put one into the server's PIPELINES_DIR.", err=True)
        return
    typer.echo(table(["NAME", "STATE", "RUNS", "SUCCESS", "LAST RUN", "DESCRIPTION"], rows))


@command(runs_app, "ls")
def runs_ls(
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", metavar="NAME", help="Only runs of this pipeline")
    ] = None,
    status_: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATE",
            help="Only runs in this state (PENDING, RUNNING, SUCCESS, FAILED, CANCELLED, "
            "TIMED_OUT); repeat or comma-separate",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, metavar="N", help="At most N runs")] = 20,
    as_json_: AsJson = False,
    url: ServerUrl = None,
    token: Token = None,
) -> None:
    """List runs, newest first."""
    query: dict[str, Any] = {"limit": limit}
    if pipeline:
        query["pipeline"] = pipeline
    if status_:
        query["status"] = ",".join(status_)
    with reporting(), connect(url, token) as api:
        page: dict[str, Any] = api.get("/api/runs", params=query)
    items: list[dict[str, Any]] = page["items"]
    if as_json_:
        typer.echo(as_json(items))
        return
    if not items:
        typer.echo("No runs.", err=True)
        return
    colour = _colour()
    rows = [
        [
            r["id"],
            r["pipeline_name"],
            status(r["status"], colour),
            "-" if r.get("exit_code") is None else str(r["exit_code"]),
            r["trigger"],
            when(r["created_at"]),
            duration(r.get("duration_seconds")),
        ]
        for r in items
    ]
    typer.echo(table(["ID", "PIPELINE", "STATUS", "EXIT", "TRIGGER", "CREATED", "DURATION"], rows))
    if page.get("total", 0) > len(items):
        typer.echo(f"{len(items)} of {page['total']} runs; --limit shows more", err=True)


def _describe(api: Api, r: dict[str, Any], colour: bool) -> str:
    state = r["status"] + (f" ({r['failure_kind']})" if r.get("failure_kind") else "")
    pairs = [
        ("id", r["id"]),
        ("pipeline", r["pipeline_name"]),
        ("status", status(state, colour)),
        ("exit code", "-" if r.get("exit_code") is None else str(r["exit_code"])),
    ]
    if r.get("error_message"):
        pairs.append(("error", cut(r["error_message"], 200)))
    if r.get("progress") is not None:
        text = f" {r['progress_text']}" if r.get("progress_text") else ""
        pairs.append(("progress", f"{r['progress']}%{text}"))
    params = r.get("parameters") or {}
    pairs += [
        ("parameters", " ".join(f"{k}={v}" for k, v in params.items()) or "-"),
        ("trigger", r["trigger"] + (f" by {r['triggered_by']}" if r.get("triggered_by") else "")),
        ("attempt", f"{r['attempt']} of {r['max_attempts']}"),
        ("created", when(r["created_at"])),
        ("started", when(r.get("started_at"))),
        ("finished", when(r.get("finished_at"))),
        ("duration", duration(r.get("duration_seconds"))),
        ("executor", r["executor"] + (f" on {r['worker']}" if r.get("worker") else "")),
        ("console", f"{api.url}/runs/{r['id']}"),
    ]
    return fields(pairs)


@command(runs_app, "show")
def runs_show(
    run_id: RunId, as_json_: AsJson = False, url: ServerUrl = None, token: Token = None
) -> None:
    """Show one run: state, exit code, parameters, times, link."""
    with reporting(), connect(url, token) as api:
        found: dict[str, Any] = api.get(f"/api/runs/{run_id}")
        typer.echo(as_json(found) if as_json_ else _describe(api, found, _colour()))


@command(runs_app, "cancel")
def runs_cancel(
    run_id: RunId, as_json_: AsJson = False, url: ServerUrl = None, token: Token = None
) -> None:
    """Cancel a waiting or running run.

    A running run gets SIGTERM, then SIGKILL after the server's grace period."""
    with reporting(), connect(url, token) as api:
        found: dict[str, Any] = api.post(f"/api/runs/{run_id}/cancel")
    if as_json_:
        typer.echo(as_json(found))
    elif found["status"] == "CANCELLED":
        typer.echo(f"run {run_id} cancelled")
    else:
        typer.echo(f"run {run_id} is stopping ({found['status']}, cancel requested)")


@command(runs_app, "retry")
def runs_retry(
    run_id: RunId,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Watch the new attempt live to its end")
    ] = False,
    as_json_: AsJson = False,
    url: ServerUrl = None,
    token: Token = None,
) -> None:
    """Start a new attempt of a finished run; print its id.

    The new run has the same parameters and is linked to the old one."""
    with reporting(), connect(url, token) as api:
        started: dict[str, Any] = api.post(f"/api/runs/{run_id}/retry")
        if not follow:
            typer.echo(as_json(started) if as_json_ else started["id"])
            return
        typer.echo(f"fastflow: run {started['id']} retries {run_id}", err=True)
        code = follow_run(api, str(started["id"]))
    raise typer.Exit(code)


@command(runs_app, "artifacts")
def runs_artifacts(
    run_id: RunId,
    path: Annotated[
        str | None, typer.Argument(metavar="PATH", help="Download this artifact (as listed)")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Where to write it [default: its file name]"
        ),
    ] = None,
    as_json_: AsJson = False,
    url: ServerUrl = None,
    token: Token = None,
) -> None:
    """List a run's artifacts, or download one.

    With PATH, the artifact is written to its file name, or to FILE (`-o -`: stdout)."""
    with reporting(), connect(url, token) as api:
        if path is None:
            found: list[dict[str, Any]] = api.get(f"/api/runs/{run_id}/artifacts")
            if as_json_:
                typer.echo(as_json(found))
            elif not found:
                typer.echo("No artifacts.", err=True)
            else:
                rows = [[a["path"], str(a["size"]), a["sha256"]] for a in found]
                typer.echo(table(["PATH", "BYTES", "SHA256"], rows))
            return
        target = output or Path(path.rsplit("/", 1)[-1])
        answer = api.request("GET", f"/api/runs/{run_id}/artifacts/{quote(path)}")
        if str(target) == "-":
            sys.stdout.buffer.write(answer.content)
            return
        target.write_bytes(answer.content)
        typer.echo(f"wrote {target} ({len(answer.content)} bytes)", err=True)
