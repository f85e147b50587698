"""The optional parts of fastflow, each installed by an extra of the package, and the one
place that checks the configuration asks only for installed ones.

The base install is the embedded default (API, console, SQLite, local executor, schedules,
git sync, secrets). A part configured without its extra stops the start with one line naming
the `pip install` to run; the modules that use a part import its library only when built.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from fastflow.errors import MissingExtraError
from fastflow.settings import DispatcherKind, ExecutorKind, ObjectStoreKind, Settings


@dataclass(frozen=True)
class Extra:
    name: str
    modules: tuple[str, ...]
    """Top-level modules the extra installs; all present means installed."""

    def installed(self) -> bool:
        return all(importlib.util.find_spec(module) is not None for module in self.modules)


POSTGRES = Extra("postgres", ("psycopg",))
DOCKER = Extra("docker", ("docker",))
CELERY = Extra("celery", ("celery", "redis"))
S3 = Extra("s3", ("boto3", "botocore"))
EXTRAS = (POSTGRES, DOCKER, CELERY, S3)


def require(what: str, *extras: Extra) -> None:
    """MissingExtraError naming the install when any of `extras` is missing; `what` says
    which configuration or command needs them."""
    missing = [extra.name for extra in extras if not extra.installed()]
    if not missing:
        return
    names = ",".join(missing)
    noun = f"the {missing[0]} extra" if len(missing) == 1 else f"the {' and '.join(missing)} extras"
    raise MissingExtraError(f"{what} needs {noun}: pip install 'fastflow[{names}]'")


def require_for_database(url: str) -> None:
    """A PostgreSQL DATABASE_URL needs the postgres extra (psycopg)."""
    if url.startswith("postgresql"):
        require("DATABASE_URL=postgresql://…", POSTGRES)


def check_settings(settings: Settings) -> None:
    """Every optional part `settings` configures is installed; else MissingExtraError."""
    if settings.executor is ExecutorKind.DOCKER:
        require("EXECUTOR=docker", DOCKER)
    if settings.dispatcher is DispatcherKind.CELERY:
        require("DISPATCHER=celery", CELERY)
    if settings.object_store is ObjectStoreKind.S3:
        require("OBJECT_STORE=s3", S3)
    require_for_database(settings.sqlalchemy_url)
