"""The one error of backup and restore: a single line that says what is wrong."""

from __future__ import annotations

from fastflow.errors import FastflowError


class BackupError(FastflowError):
    """A backup cannot be taken, or an archive cannot be restored; nothing was written."""
