"""Pure parts of the run and runs pages: axes, the runs chart, the URL of a view, artifact
headers and previews, relative times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from fastflow.records import Run
from fastflow.ui.artifact_files import headers_for
from fastflow.ui.artifact_preview import csv_table, head_text, kind, markdown_html, pretty_json
from fastflow.ui.charts import ChartLimits, chart_options, nice_max
from fastflow.ui.clock import ago
from fastflow.ui.runs import day, query_string, row
from fastflow.ui.runs_chart import runs_chart_options


def test_axis_tops_are_round_numbers_above_the_data() -> None:
    assert [nice_max(v) for v in (0, 0.3, 1, 7, 11, 101, 113.3, 2600)] == [
        1.0, 0.5, 1.0, 10.0, 20.0, 200.0, 200.0, 5000.0,
    ]  # fmt: skip
    opts = chart_options("CPU", "%", [["t", 97.0]], ChartLimits(None, None), "#000")
    assert opts["yAxis"]["max"] == 200.0  # 97 * 1.05 → the next round number
    assert opts["xAxis"]["axisLabel"]["hideOverlap"] is True
    assert opts["grid"]["containLabel"] is True


def test_runs_chart_points_by_status_with_run_ids() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    runs = [
        Run(
            id="a" * 32,
            pipeline_name="p",
            status="SUCCESS",
            started_at=now - timedelta(seconds=90),
            finished_at=now - timedelta(seconds=30),
        ),
        Run(
            id="b" * 32,
            pipeline_name="p",
            status="FAILED",
            started_at=now - timedelta(seconds=20),
            finished_at=now - timedelta(seconds=15),
        ),
        Run(
            id="c" * 32, pipeline_name="p", status="RUNNING", started_at=now - timedelta(seconds=4)
        ),
        Run(id="d" * 32, pipeline_name="p", status="PENDING"),
    ]
    opts = runs_chart_options(runs, now=now)
    series = {s["name"]: s for s in opts["series"]}
    assert set(series) == {"SUCCESS", "FAILED", "RUNNING"}  # a pending run has no start yet
    assert series["SUCCESS"]["data"][0][1:3] == [60.0, "a" * 32]
    assert series["RUNNING"]["data"][0][1] == 4.0  # counts up to now
    assert series["FAILED"]["itemStyle"]["color"] != series["SUCCESS"]["itemStyle"]["color"]
    assert opts["yAxis"]["max"] == 100.0
    assert ":formatter" in opts["tooltip"]  # escapes the pipeline name before HTML


def test_a_view_lives_in_its_query_string() -> None:
    assert query_string(None, [], None, None, 1, 25, "created_at", True) == ""
    qs = query_string("etl", ["FAILED", "TIMED_OUT"], "2026-01-01", None, 3, 50, "status", False)
    assert parse_qs(qs) == {
        "pipeline": ["etl"],
        "status": ["FAILED,TIMED_OUT"],
        "since": ["2026-01-01"],
        "page": ["3"],
        "per_page": ["50"],
        "sort": ["status"],
        "order": ["asc"],
    }
    assert day("2026-02-30") is None and day("nonsense") is None
    assert day("2026-01-01", end=True) == datetime(2026, 1, 2, tzinfo=UTC)


def test_rows_carry_progress_relative_time_and_a_live_start() -> None:
    now = datetime.now(UTC)
    live = Run(
        pipeline_name="p",
        status="RUNNING",
        created_at=now - timedelta(minutes=2),
        started_at=now - timedelta(minutes=1),
        progress=40,
        progress_text="copying",
    )
    r = row(live)
    assert (r["progress"], r["ptext"], r["ago"]) == (40, "copying", "2 min ago")
    assert r["live_since"] and r["created"].endswith(" UTC")
    done = row(
        Run(pipeline_name="p", status="SUCCESS", created_at=now, started_at=now, finished_at=now)
    )
    assert done["progress"] == 100 and done["live_since"] is None
    assert ago(now - timedelta(seconds=10), now) == "just now"
    assert ago(now - timedelta(hours=3), now) == "3 h ago"
    assert ago(now - timedelta(days=2), now) == "2 d ago"


def test_artifacts_are_served_inline_only_as_safe_images_or_sandboxed_html() -> None:
    for path, inline, media, disposition in [
        ("plot.png", True, "image/png", "inline"),
        ("a/photo.JPG", True, "image/jpeg", "inline"),
        ("page.html", True, "text/html; charset=utf-8", "inline"),
        ("logo.svg", True, "application/octet-stream", "attachment"),
        ("x.js", True, "application/octet-stream", "attachment"),
        ("plot.png", False, "application/octet-stream", "attachment"),
        ("notes.txt", True, "application/octet-stream", "attachment"),
    ]:
        got_media, headers = headers_for(path, inline)
        assert got_media == media, path
        assert headers["Content-Disposition"].startswith(disposition), path
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Content-Security-Policy"].startswith("sandbox;")
        assert "script-src" not in headers["Content-Security-Policy"]
    assert "%22" in headers_for('a"b.png', True)[1]["Content-Disposition"]


def test_previews_show_hostile_content_as_text() -> None:
    html = markdown_html(
        "# T\n\n<script>x()</script>\n\n<img src=x onerror=y()>\n\n[a](javascript:x()) ![i](http://e/x.png)"
    )
    assert (
        "<script" not in html and "<img" not in html and "javascript:" not in html.split("href")[-1]
    )
    assert "&lt;script&gt;" in html and "<h1>T</h1>" in html
    columns, rows, truncated = csv_table("name,score\n<b>x</b>,1\nshort\n", "t.csv")
    assert [c["label"] for c in columns] == ["name", "score"]
    assert rows == [{"c0": "<b>x</b>", "c1": "1"}, {"c0": "short", "c1": ""}] and not truncated
    _, rows, truncated = csv_table("a\n" + "1\n" * 500, "t.csv")
    assert len(rows) == 200 and truncated
    assert pretty_json('{"a":[1]}') == '{\n  "a": [\n    1\n  ]\n}'
    assert pretty_json("{broken") == "{broken"
    assert head_text(iter([b"ab", b"cd", b"ef"]), limit=3) == ("abc", True)
    assert head_text(iter([b"\xff ok"]), limit=10) == ("\ufffd ok", False)
    assert [kind(p) for p in ("a.md", "b.CSV", "c.json", "d.png", "e.svg", "f.html", "g.bin")] == [
        "markdown", "csv", "json", "image", None, "html", None,
    ]  # fmt: skip
