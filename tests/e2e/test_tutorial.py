"""docs/tutorial.md, followed as a reader would: its files written as shown, its server
started and its commands run exactly as written, and its pictures taken in a real browser.

The pictures go to test-output/screenshots/; with FASTFLOW_UPDATE_DOCS_IMAGES=1 they also
replace the ones in docs/images/ that the tutorial shows.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import FASTFLOW_BIN, free_port, outside_env
from tests.support.services import passable_temp, service_missing
from tests.support.ui import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, WAIT

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "tutorial.md"
IMAGES = ROOT / "docs" / "images"


def files_of(doc: str) -> dict[str, str]:
    """`path`: followed by a fenced block: the files the reader writes."""
    found = re.findall(r"^`(pipelines/[^`]+)`:\n\n```[a-z]*\n(.*?)^```", doc, re.M | re.S)
    return dict(found)


def commands_of(doc: str) -> list[str]:
    """The `$ ` lines of the ```console blocks, in order."""
    blocks = re.findall(r"^```console\n(.*?)^```", doc, re.M | re.S)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


@dataclass
class Tutorial:
    folder: Path
    url: str
    password: str
    cli_env: dict[str, str]
    commands: list[str]


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory, uv_cache: Path) -> Iterator[Tutorial]:
    doc = DOC.read_text()
    folder = passable_temp(tmp_path_factory, "tutorial")
    files = files_of(doc)
    assert set(files) == {
        f"pipelines/report/{n}" for n in ("main.py", "requirements.txt", "pipeline.json")
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    commands = commands_of(doc)
    [serve] = [c for c in commands if "fastflow serve" in c]
    port = free_port()
    path = f"{FASTFLOW_BIN.parent}:{os.environ['PATH']}"  # `fastflow` as the reader has it
    # The reader's defaults, but a free port and the test session's uv cache.
    server_env = outside_env(PATH=path, FASTFLOW_PORT=str(port), UV_CACHE_DIR=str(uv_cache))
    server_env.pop("PYTEST_CURRENT_TEST", None)  # NiceGUI behaves differently under pytest
    log = folder / "serve.log"
    proc = subprocess.Popen(
        ["bash", "-c", serve],
        cwd=folder,
        env=server_env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        password = re.search(r"with password: (\S+)", log.read_text())
        assert password, log.read_text()
        cli_env = outside_env(PATH=path, FASTFLOW_URL=url, XDG_CONFIG_HOME=str(folder / "config"))
        yield Tutorial(folder, url, password.group(1), cli_env, [c for c in commands if c != serve])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server this fixture started, by its group
        proc.wait(timeout=60)


def test_the_console_as_the_tutorial_shows_it(tutorial: Tutorial) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        service_missing("chromium", f"{CHROMIUM} missing; run scripts/browser.sh")
    expect = playwright_api.expect
    shown = set(re.findall(r"\(images/(tutorial-[a-z-]+\.png)\)", DOC.read_text()))
    taken: set[str] = set()

    def picture(page: Any, name: str) -> None:
        if not name.endswith("-start.png") and not name.endswith("-schedule.png"):
            expect(page.locator(".q-dialog__backdrop")).to_have_count(0)
        page.wait_for_timeout(400)  # labels and dialogs done moving
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name))
        if os.environ.get("FASTFLOW_UPDATE_DOCS_IMAGES") == "1":
            page.screenshot(path=str(IMAGES / name))
        taken.add(name)

    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1200, "height": 760}, base_url=tutorial.url
        )
        context.set_default_timeout(WAIT)
        page = context.new_page()
        page.goto("/")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(tutorial.password)
        page.get_by_role("button", name="Log in").click()
        card = page.get_by_test_id("pipeline-report")
        expect(card).to_contain_text("Orders per day over the last DAYS days")
        card.evaluate("e => e.scrollIntoView({block: 'center'})")
        picture(page, "tutorial-dashboard.png")

        card.get_by_role("button", name="Start").click()
        page.get_by_label("DAYS").fill("12")
        expect(page.get_by_text("How many days back")).to_be_visible()
        picture(page, "tutorial-start.png")
        page.get_by_test_id("start-confirm").click()
        expect(page).to_have_url(re.compile(r"/runs/[0-9a-f]{32}$"))
        expect(page.get_by_text(re.compile(r"\d+% day \d+ of 12"))).to_be_visible()
        picture(page, "tutorial-run-live.png")
        expect(page.get_by_test_id("run-status")).to_contain_text("SUCCESS", timeout=90_000)
        expect(page.get_by_test_id("log")).to_contain_text("wrote report.csv")
        link = page.get_by_test_id("artifact-report.csv")
        expect(link).to_be_visible()
        page.get_by_test_id("artifacts").evaluate("e => e.scrollIntoView({block: 'center'})")
        picture(page, "tutorial-artifacts.png")
        with page.expect_download() as download:
            link.get_by_test_id("artifact-download").click()  # a download link
        saved = Path(download.value.path())
        assert saved.read_text().splitlines()[0] == "day,orders"
        assert len(saved.read_text().splitlines()) == 13

        page.goto("/schedules")
        page.get_by_test_id("schedule-new").click()
        page.get_by_test_id("schedule-pipeline").click()
        page.get_by_role("option", name="report", exact=True).click()
        page.get_by_label("Cron expression or seconds").fill("0 6 * * 1-5")
        # report declares DAYS: the form asks for it as a field, filled with its default.
        days = page.get_by_label("DAYS")
        expect(days).to_have_value("7")
        days.fill("5")
        days.press("Tab")
        picture(page, "tutorial-schedule.png")
        page.get_by_test_id("schedule-save").click()
        expect(page.get_by_text(re.compile(r"Schedule for report saved"))).to_be_visible()
        context.close()
        browser.close()
    assert taken == shown, "the tutorial shows exactly the pictures this test takes"
    for name in shown:
        assert (IMAGES / name).is_file(), name


def test_the_tutorials_commands_run_as_written(tutorial: Tutorial) -> None:
    # One shell for all of them, as a reader types them: `RUN=$(…)` carries over. Each
    # command's output and exit code is kept; stdin holds the password `login` asks for.
    lines = []
    for n, command in enumerate(tutorial.commands):
        lines.append(f"{{ {command} ; }} > out.{n} 2>&1; echo $? > rc.{n}")
    script = tutorial.folder / "tutorial.sh"
    script.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        ["bash", str(script)],
        cwd=tutorial.folder,
        env=tutorial.cli_env,
        input=tutorial.password + "\n",
        text=True,
        capture_output=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    outputs = {}
    for n, command in enumerate(tutorial.commands):
        output = (tutorial.folder / f"out.{n}").read_text()
        code = int((tutorial.folder / f"rc.{n}").read_text())
        assert code == 0, f"$ {command}\n{output}"
        outputs[command] = output
    assert (
        outputs["fastflow login --username admin"].startswith(
            f"Password for admin: Logged in to {tutorial.url} as admin (admin)"
        )
        or "Logged in to" in outputs["fastflow login --username admin"]
    )
    followed = outputs["fastflow run report -p DAYS=3 --follow"]
    assert re.search(r"^----------  --------$", followed, re.M), followed
    assert "wrote report.csv" in followed
    assert re.search(r"fastflow: run SUCCESS · exit code 0 · [\d.]+ s · ", followed)
    assert (tutorial.folder / "report.csv").read_text().startswith("day,orders\n")
    listed = outputs["fastflow runs ls --pipeline report"]
    assert len(re.findall(r"^[0-9a-f]{32}  report +SUCCESS ", listed, re.M)) >= 2, listed

    # The refusal the tutorial quotes, word for word.
    refused = subprocess.run(
        shlex.split("fastflow run report -p DAY=3"),
        env=tutorial.cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    quoted = " ".join(DOC.read_text().split())
    assert f"`{refused.stderr.strip()}` and exits with 2" in quoted
