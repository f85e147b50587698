"""Optional parts: configuring one without its extra stops with one line naming the install."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fastflow import extras
from fastflow.errors import ConfigError, MissingExtraError
from fastflow.executors.missing import MissingExtraExecutor
from fastflow.models import FailureKind, RunStatus
from fastflow.records import Run
from fastflow.runs.ports import RunControl
from fastflow.settings import load_settings

ABSENT = extras.Extra("nothing", ("fastflow_no_such_module_here",))


def test_a_missing_extra_names_the_install_in_one_line() -> None:
    with pytest.raises(MissingExtraError) as caught:
        extras.require("EXECUTOR=thing", ABSENT)
    assert caught.value.message == (
        "EXECUTOR=thing needs the nothing extra: pip install 'fastflow[nothing]'"
    )
    assert "\n" not in caught.value.message
    assert isinstance(caught.value, ConfigError)  # the start's usual stop, exit code 2


def test_two_missing_extras_are_named_together() -> None:
    other = extras.Extra("other", ("fastflow_no_such_module_either",))
    with pytest.raises(MissingExtraError, match=r"pip install 'fastflow\[nothing,other\]'$"):
        extras.require("fastflow thing", ABSENT, extras.POSTGRES, other)


def test_installed_extras_pass() -> None:
    # The development install has every extra.
    extras.require("all of them", *extras.EXTRAS)
    settings = load_settings(
        EXECUTOR="docker",
        DISPATCHER="celery",
        OBJECT_STORE="s3",
        DATABASE_URL="postgresql://u@127.0.0.1/x",
    )
    extras.check_settings(settings)


def test_only_postgres_urls_need_the_postgres_extra() -> None:
    extras.require_for_database("sqlite:////tmp/x.db")
    assert not extras.Extra("p", ("fastflow_no_such_module_here",)).installed()


def test_the_executor_standing_for_a_missing_extra_fails_its_runs_with_the_line(
    tmp_path: Path,
) -> None:
    why = "the docker executor needs the docker extra: pip install 'fastflow[docker]'"
    executor = MissingExtraExecutor("docker", why)
    result = asyncio.run(executor.execute(None, None, RunControl()))  # type: ignore[arg-type]
    assert result.status is RunStatus.FAILED
    assert result.failure_kind is FailureKind.ENGINE_ERROR
    assert result.error == why
    assert asyncio.run(executor.reattachable(["r1"])) == {}
    assert executor.sweep(lambda ids: {}, dry_run=False) == []
    assert why in executor.abandon(Run(pipeline_name="p"))
