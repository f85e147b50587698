"""The dashboard's backup tile says when, how old and how large the newest backup is."""

from __future__ import annotations

from pathlib import Path

from fastflow.backup.status import BackupState, human_size
from fastflow.ui.backup_tile import age_text, last_line, overdue, schedule_line

NOW = 1_800_000_000.0


def test_texts() -> None:
    none = BackupState(Path("/data/backups"), None, 7)
    assert last_line(none) == "No backup yet in /data/backups"
    assert schedule_line(none).startswith("Not scheduled: set FASTFLOW_BACKUP_INTERVAL")
    taken = BackupState(
        Path("/b"), 3600, 3, last_path=Path("/b/x"), last_size=3 * 1024 * 1024,
        last_at=NOW - 5400, last_keys=True,
    )  # fmt: skip
    assert last_line(taken, NOW) == (
        "Last 2027-01-15 06:30:00 UTC (1 h 30 min ago), 3.0 MB, keys sealed"
    )
    assert schedule_line(taken) == "Every 1 h 00 min, keeping the newest 3 in /b"
    assert not overdue(taken, NOW) and overdue(taken, NOW + 3 * 3600)
    assert [age_text(s) for s in (5, 125, 90000)] == ["5 s", "2 min", "1 d 1 h"]
    assert [human_size(n) for n in (512, 2048, 5 * 1024**3)] == ["512 B", "2.0 KB", "5.0 GB"]
