"""`fastflow backup` and `fastflow restore`: thin commands over `fastflow.backup`."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fastflow.errors import FastflowError

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress

    from fastflow.backup.create import Progress
    from fastflow.settings import Settings

PassphraseFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help="File whose first line is the passphrase [default: env FASTFLOW_BACKUP_PASSPHRASE]",
        show_default=False,
    ),
]

NO_KEYS = (
    "fastflow: this archive holds no keys. Keep ENCRYPTION_KEY (or DATA_DIR/encryption_key) "
    "and the token signing key (FASTFLOW_SECRET_KEY or DATA_DIR/secret_key), with "
    "DATA_DIR/hook_key and DATA_DIR/worker_token, somewhere else: without ENCRYPTION_KEY the "
    "secrets in this backup cannot be decrypted. To seal them into the archive, set "
    "FASTFLOW_BACKUP_PASSPHRASE or pass --passphrase-file."
)


@contextmanager
def _private() -> Iterator[None]:
    """What a backup or restore writes is as private as what the server writes."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _settings() -> Settings:
    from fastflow.settings import load_settings

    try:
        return load_settings()
    except FastflowError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(2) from None


class _Bar:
    """One Rich progress bar on stderr, restarted for each stage."""

    def __init__(self, progress: RichProgress) -> None:
        self._progress = progress
        self._task = progress.add_task("starting", total=None)

    def stage(self, text: str, total: int | None = None) -> None:
        self._progress.reset(self._task, description=text, total=total, completed=0)

    def advance(self, n: int) -> None:
        self._progress.advance(self._task, n)


@contextmanager
def _progress() -> Iterator[Progress]:
    """A progress bar when stderr is a terminal; nothing otherwise (scripts, cron, CI)."""
    from fastflow.backup.create import NoProgress

    if not sys.stderr.isatty():
        yield NoProgress()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        yield _Bar(bar)


def _contents(counts: dict[str, int]) -> str:
    return (
        f"{counts.get('runs', 0)} run(s) ({counts.get('runs_running', 0)} running, "
        f"{counts.get('runs_pending', 0)} pending), {counts.get('users', 0)} user(s), "
        f"{counts.get('schedules', 0)} schedule(s), {counts.get('secrets', 0)} secret(s), "
        f"{counts.get('log_files', 0)} log file(s), {counts.get('objects', 0)} object(s)"
    )


def backup_command(
    file: Annotated[Path, typer.Argument(help="Archive to write (.tar, or .tar.gz to compress)")],
    passphrase_file: PassphraseFile = None,
) -> None:
    """Back up database, logs, artifacts and uploads (while serving)."""
    from fastflow.backup.create import BackupMaker
    from fastflow.backup.keys import passphrase_from
    from fastflow.backup.status import human_size

    settings = _settings()
    try:
        passphrase = passphrase_from(settings, passphrase_file)
        with _private(), _progress() as progress:
            result = BackupMaker(settings).take(file, passphrase, progress)
    except FastflowError as exc:
        typer.echo(f"fastflow: {exc.message}", err=True)
        raise typer.Exit(1) from None
    m = result.manifest
    typer.echo(
        f"backup written to {result.path} ({human_size(result.size)}, {result.seconds:.1f} s): "
        f"fastflow {m.fastflow_version}, database revision {m.revision}, {_contents(m.counts)}"
    )
    if m.counts.get("runs_running"):
        typer.echo("running runs are recorded as they stand; a restore settles them", err=True)
    if m.object_store.get("kind") == "s3":
        typer.echo(
            f"fastflow: objects in S3 bucket {m.object_store['bucket']!r} are referenced, not "
            "copied: back the bucket up on its own",
            err=True,
        )
    if result.keys_included:
        typer.echo(f"keys sealed with the passphrase: {', '.join(m.keys)}")
    else:
        typer.echo(NO_KEYS, err=True)


def restore_command(
    file: Annotated[Path, typer.Argument(help="Archive written by `fastflow backup`")],
    passphrase_file: PassphraseFile = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a database and folders that are not empty")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Only verify the archive; write nothing")
    ] = False,
) -> None:
    """Restore a backup into an empty installation.

    The database and folders must be empty (or pass --force); stop the server first."""
    from fastflow.backup.keys import passphrase_from
    from fastflow.backup.restore import Restorer

    settings = _settings()
    try:
        restorer = Restorer(settings)
        if check:
            manifest, _ = restorer.verify(file)
            typer.echo(
                f"{file}: every member matches its SHA-256; made {manifest.created_at} by "
                f"fastflow {manifest.fastflow_version}, revision {manifest.revision}, "
                f"{_contents(manifest.counts)}"
            )
            return
        passphrase = passphrase_from(settings, passphrase_file)
        with _private(), _progress() as progress:
            report = restorer.restore(file, passphrase, force, progress)
    except FastflowError as exc:
        typer.echo(f"fastflow: {exc.message}", err=True)
        raise typer.Exit(1) from None
    m = report.manifest
    typer.echo(
        f"restored {file} (made {m.created_at} by fastflow {m.fastflow_version}): "
        f"{_contents(m.counts)}; database at revision {report.revision}"
        + (f" (migrated from {m.revision})" if report.revision != m.revision else "")
    )
    if report.settled:
        typer.echo(f"{report.settled} run(s) that were running at backup time are settled")
    if report.keys_restored:
        typer.echo(f"keys restored under {settings.data_dir}: {', '.join(report.keys_restored)}")
    for warning in report.warnings:
        typer.echo(f"fastflow: {warning}", err=True)
