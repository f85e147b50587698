"""A pipeline that tries to reach what a run must not, and proves it still does its own work.

Written into a test's PIPELINES_DIR (or uploaded as a build). Its parameter PROBE is a JSON
object: `read` (files to read), `list` (folders to list), `write` (folders to create a file
in), `daemon` (start a process that calls setsid, double-forks and sleeps), `connect`
(host:port to open a TCP connection to), `bind` (try to listen on a TCP port), `sleep`
(seconds to sleep at the end). It prints one line `REPORT <json>` and exits with code 7.
"""

from __future__ import annotations

import os
import time

import psutil

INTRUDER = r"""
import json, os, socket, subprocess, sys, tempfile, time

probe = json.loads(os.environ["PROBE"])
report = {"read": {}, "list": {}, "write": {}, "uid": os.getuid()}


def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as exc:
        return type(exc).__name__


def read(path):
    with open(path, "rb") as f:
        f.read(16)


# The supervisor that started this run, and whatever else the test names.
parent = os.getppid()
paths = probe.get("read", []) + [f"/proc/{parent}/{name}" for name in ("environ", "maps", "mem")]
for path in paths:
    report["read"][path] = attempt(lambda: read(path))
report["parent"] = parent
if probe.get("write_env"):
    import sysconfig

    probe.setdefault("write", []).extend(
        [os.path.dirname(os.path.realpath(sys.executable)), sysconfig.get_paths()["purelib"]]
    )
for path in probe.get("list", []):
    report["list"][path] = attempt(lambda: os.listdir(path))
for folder in probe.get("write", []):
    report["write"][folder] = attempt(
        lambda: open(os.path.join(folder, "intruder.txt"), "w").write("x")
    )
if probe.get("connect"):
    host, port = probe["connect"].rsplit(":", 1)
    report["connect"] = attempt(lambda: socket.create_connection((host, int(port)), 3).close())
if probe.get("bind"):
    def listen():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        s.close()
    report["bind"] = attempt(listen)
if probe.get("daemon"):
    pid_file = os.path.join(os.getcwd(), "daemon.pid")
    code = (
        "import os, sys, time\n"
        "os.setsid()\n"
        "if os.fork(): os._exit(0)\n"
        f"open({pid_file!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(300)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    for _ in range(200):
        if os.path.exists(pid_file) and open(pid_file).read():
            break
        time.sleep(0.02)
    report["daemon_pid"] = int(open(pid_file).read())

# What a run must still be able to do.
import tabulate  # from its environment (requirements.txt)

report["imported"] = tabulate.__name__
import multiprocessing

report["mp_lock"] = attempt(lambda: multiprocessing.Lock())  # POSIX semaphores (/dev/shm)
open("work.txt", "w").write("work")
report["tmp"] = attempt(lambda: tempfile.NamedTemporaryFile(dir=None).close())
report["tmpdir"] = tempfile.gettempdir()
artifacts = os.environ["FASTFLOW_ARTIFACTS_DIR"]
open(os.path.join(artifacts, "result.txt"), "w").write("artifact")
print("REPORT " + json.dumps(report), flush=True)
time.sleep(float(probe.get("sleep", 0)))
sys.exit(7)
"""


def write_intruder(
    pipelines_dir: object,
    name: str = "intruder",
    network: bool = True,
    timeout: float | None = None,
) -> None:
    """A folder pipeline `name` with the intruder as main.py (needs tabulate)."""
    import json
    from pathlib import Path

    folder = Path(str(pipelines_dir)) / name
    folder.mkdir()
    (folder / "main.py").write_text(INTRUDER)
    (folder / "requirements.txt").write_text("tabulate==0.9.0\n")
    config: dict[str, object] = {"parameters": {"PROBE": "{}"}, "network": network}
    if timeout is not None:
        config["timeout"] = timeout
    (folder / "pipeline.json").write_text(json.dumps(config))


def gone(pid: int) -> bool:
    """The process has ended (a zombie waiting for its parent counts as ended)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, what: str, timeout: float = 15) -> None:
    """Until process `pid` has ended; else kill it (no test leaves it behind) and fail."""
    deadline = time.monotonic() + timeout
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not gone(pid):
        os.kill(pid, 9)
        raise AssertionError(what)
