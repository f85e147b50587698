"""The pipeline page's parts that need no server: the docstring as description (read with
`ast`, never run) and the soft-limit warnings from recent runs' samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastflow.pipelines.config import PipelineConfig
from fastflow.pipelines.discovery import PipelineDefinition
from fastflow.pipelines.docstring import MAX_SOURCE_BYTES, description_of, docstring_of
from fastflow.records import Run
from fastflow.ui.limit_warnings import warnings


def test_docstring_is_read_without_running_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    main = tmp_path / "main.py"
    main.write_text(
        f'"""Load the   nightly\nexport.\n\nMore detail not shown."""\n'
        f"open({str(marker)!r}, 'w').write('x')\n"
    )
    assert docstring_of(main) == "Load the nightly export."
    assert not marker.exists()
    d = PipelineDefinition(name="x", kind="folder", path=tmp_path, entrypoint=main)
    assert description_of(d) == "Load the nightly export."
    d.config = PipelineConfig(description="From pipeline.json")
    assert description_of(d) == "From pipeline.json"
    # Changed on disk: read again.
    main.write_text('"""Second version."""\n')
    assert docstring_of(main) == "Second version."


def test_no_docstring_when_none_broken_or_huge(tmp_path: Path) -> None:
    cases = {
        "none.py": "print('hi')\n",
        "broken.py": '"""Doc."""\ndef (:\n',
        "binary.py": b"\x00\xff\xfe",
        "deep.py": "x = " + "(" * 100_000 + ")" * 100_000 + "\n",
        "huge.py": '"""Big."""\n' + "#" * (MAX_SOURCE_BYTES + 1),
    }
    for name, text in cases.items():
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        assert docstring_of(path) is None, name
    assert docstring_of(tmp_path / "missing.py") is None


def _run(i: int, seconds: float, status: str = "SUCCESS", kind: str | None = None) -> Run:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return Run(
        id=f"r{i}",
        pipeline_name="p",
        status=status,
        failure_kind=kind,
        started_at=start,
        finished_at=start + timedelta(seconds=seconds),
    )


def test_soft_limit_warnings_name_the_limit_and_the_peak() -> None:
    config = PipelineConfig(
        mem_soft_limit="256m", mem_hard_limit="512m", cpu_soft_limit=1.0, timeout=60
    )
    runs = [_run(1, 10), _run(2, 50), _run(3, 5, "FAILED", "OOM")]
    samples = {
        "r1": [{"ram_mb": 100.0, "cpu_percent": 50.0}],
        "r2": [{"ram_mb": 300.0, "cpu_percent": 150.0}, {"ram_mb": 450.0, "cpu_percent": 20.0}],
        "r3": [],
    }
    said = warnings(config, runs, samples)
    assert said == [
        "1 of the last 3 runs went over the RAM soft limit (256m); the highest peak was 450 MB.",
        "1 of the last 3 runs went over the CPU soft limit (1 cores); the highest was 1.50 cores.",
        "Recent runs peaked at 450 MB, 88% of the RAM hard limit (512m): a little more and "
        "they are killed.",
        "1 of the last 3 runs were killed for using too much memory.",
        "The longest recent run took 50 s, 83% of the timeout (60 s).",
    ]


def test_no_warning_for_runs_well_within_limits() -> None:
    config = PipelineConfig(mem_soft_limit="1g", mem_hard_limit="2g", timeout=600)
    runs = [_run(1, 10), _run(2, 20)]
    samples = {"r1": [{"ram_mb": 100.0}], "r2": [{"ram_mb": 120.0, "cpu_percent": "bad"}]}
    assert warnings(config, runs, samples) == []
    assert warnings(PipelineConfig(), runs, samples) == []
    assert warnings(config, [], {}) == []
    assert warnings(config, [_run(1, 700, "TIMED_OUT")], {}) == [
        "1 of the last 1 runs hit the timeout (600 s)."
    ]
