"""Domain vocabulary shared by every layer: run states, failure kinds, triggers, roles."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def is_terminal(self) -> bool:
        return self not in (RunStatus.PENDING, RunStatus.RUNNING)


TERMINAL_STATUSES = frozenset(s for s in RunStatus if s.is_terminal)


class FailureKind(StrEnum):
    EXIT_NONZERO = "EXIT_NONZERO"
    OOM = "OOM"
    ENGINE_ERROR = "ENGINE_ERROR"
    NOT_EXECUTABLE = "NOT_EXECUTABLE"
    COMMAND_NOT_FOUND = "COMMAND_NOT_FOUND"
    UNHEALTHY = "UNHEALTHY"
    LOST = "LOST"
    SETUP = "SETUP"


FAILURE_MESSAGES: dict[FailureKind, str] = {
    FailureKind.EXIT_NONZERO: "The pipeline exited with a non-zero exit code.",
    FailureKind.OOM: "The pipeline was killed because it exceeded its memory limit.",
    FailureKind.ENGINE_ERROR: "The execution engine could not start the pipeline.",
    FailureKind.NOT_EXECUTABLE: "The pipeline's command is not executable.",
    FailureKind.COMMAND_NOT_FOUND: "The pipeline's command was not found.",
    FailureKind.UNHEALTHY: "The pipeline produced no output or progress for too long.",
    FailureKind.LOST: "The process running the pipeline vanished.",
    FailureKind.SETUP: "Installing the pipeline's dependencies failed.",
}


class Trigger(StrEnum):
    MANUAL = "manual"
    API = "api"
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"
    RETRY = "retry"


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"

    def allows(self, needed: Role) -> bool:
        """True when this role has at least the rights of `needed`."""
        order = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]
        return order.index(self) >= order.index(needed)


class TriggerType(StrEnum):
    CRON = "CRON"
    INTERVAL = "INTERVAL"
