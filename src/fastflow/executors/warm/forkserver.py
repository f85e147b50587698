"""The warm interpreter, stdlib only: `<environment python> -c BOOT PRELOAD LISTEN_FD UID`.

It runs in the pipeline's own environment (which does not have fastflow installed), so it
imports nothing of fastflow; its source comes on stdin (`BOOT` reads it), so that a sandboxed
warm interpreter needs no access to fastflow's files. Started by `executors/warm/spawn.py` with:
- fd 0: a pipe from fastflow: this source, then a line with the token every request must
  carry, then nothing; its end (fastflow stopped or died) stops the server, which then waits
  for the runs it forked before it exits;
- fd 1: where it says once `{"ready": true}` after importing the preload modules, or
  `{"error": "..."}` when they cannot be imported;
- LISTEN_FD: a listening SOCK_SEQPACKET Unix socket (an abstract address, which a run in a
  Landlock domain cannot reach); only processes of UID (fastflow's) are served. PRELOAD is
  the JSON list of modules to import. Each connection asks for one run: a JSON
  request carrying the run's stdin, stdout, stderr (and, sandboxed, a Landlock ruleset) as
  file descriptors. The answer is `{"pid": N}`, then `{"status": WAITSTATUS, "left": K}` when
  it ends (K: processes the run left behind, which were stopped).

The server stays single-threaded and never runs pipeline code; each run is a fork that
becomes the run: its own session, the sandbox layer of the run, environment, working
directory, stdio, `sys.argv`, then `main.py` as `__main__` — and it exits as
`python main.py` would (exit code, traceback, atexit handlers, threads, flushed output).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import hmac
import io
import json
import os
import select
import signal
import socket
import sys
import traceback
from typing import Any

MAX_REQUEST = 4 * 1024 * 1024
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38
_SYS_LANDLOCK_RESTRICT_SELF = 446  # x86_64 and aarch64 alike


def main() -> int:
    # fastflow stops this process by closing fd 0. SIGTERM is held back, not ignored: one
    # that reaches a run's process before that process has set itself up stays pending
    # until it has, instead of being lost (a fork keeps the mask, not what is pending
    # here). Blocked before anything is imported, so a thread a preloaded module starts
    # holds it back too.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    preload, listen_fd, uid = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    # Nothing of the launch command stays visible to the runs, nor this folder on sys.path.
    del sys.argv[1:]
    token = _read_token()
    if sys.path and sys.path[0] == "":
        del sys.path[0]  # the working directory (`-c` on a Python without PYTHONSAFEPATH)
    # What every run needs of the standard library, imported once here (not in each fork).
    failed = _preload(["atexit", "pkgutil", "random", "runpy", "threading", *preload])
    _say({"error": failed} if failed else {"ready": True})
    if failed:
        return 1
    # What is imported now stays out of the garbage collector's sight: forks do not copy
    # its pages by merely collecting.
    gc.collect()
    gc.freeze()
    # Orphans of finished runs come here, and are stopped (see `_reap`).
    _libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    return _serve(socket.socket(fileno=listen_fd), uid, token)


def _read_token() -> str:
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(0, 1)
        if not chunk:
            raise SystemExit(1)
        line += chunk
    return line.decode().strip()


_LIBC: list[ctypes.CDLL] = []


def _libc() -> ctypes.CDLL:
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def _preload(modules: list[str]) -> str | None:
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException as exc:  # (SystemExit of a module counts too)
            return f"preloading {name!r} failed: {type(exc).__name__}: {exc}"
    return None


def _say(message: dict[str, Any]) -> None:
    os.write(1, json.dumps(message).encode() + b"\n")


def _serve(listener: socket.socket, uid: int, token: str) -> int:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    children: dict[int, socket.socket | None] = {}
    waiting: list[socket.socket] = []
    accepting = True
    while accepting or children:
        watch: list[Any] = [wake_r, *waiting]
        if accepting:
            watch += [listener, 0]
        try:
            ready, _, _ = select.select(watch, [], [])
        except InterruptedError:
            continue
        if 0 in ready and not os.read(0, 4096):
            accepting = False
            listener.close()
        if accepting and listener in ready:
            with contextlib.suppress(OSError):
                conn = listener.accept()[0]
                if _peer_uid(conn) == uid:
                    waiting.append(conn)
                else:
                    conn.close()
        for conn in [c for c in waiting if c in ready]:
            waiting.remove(conn)
            others = [*waiting, *children.values()]
            pid = _request(conn, token, listener, wake_r, wake_w, others)
            if pid:
                children[pid] = conn
            else:
                conn.close()
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
            _reap(children)
    return 0


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    return int.from_bytes(creds[4:8], sys.byteorder)


def _request(
    conn: socket.socket,
    token: str,
    listener: socket.socket,
    wake_r: int,
    wake_w: int,
    others: list[socket.socket | None],
) -> int:
    try:
        data, fds, _flags, _addr = socket.recv_fds(conn, MAX_REQUEST, 4)
    except OSError:
        return 0
    try:
        try:
            request = json.loads(data) if data and len(fds) >= 3 else None
        except ValueError:
            request = None
        if not isinstance(request, dict):
            _answer(conn, {"error": "a request needs a JSON body and three descriptors"})
            return 0
        if not hmac.compare_digest(str(request.pop("token", "")), token):
            _answer(conn, {"error": "not a request of fastflow's"})
            return 0
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            closing = [listener, conn, *others]
            _child(request, fds, closing, [0, wake_r, wake_w])  # never returns
        _answer(conn, {"pid": pid})
        return pid
    finally:
        for fd in fds:
            os.close(fd)


def _answer(conn: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        conn.send(json.dumps(message).encode())


def _reap(children: dict[int, socket.socket | None]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid not in children:
            continue  # an orphan of a finished run, adopted and stopped
        conn = children.pop(pid)
        left = _stop_orphans(children)
        if conn is not None:
            _answer(conn, {"status": status, "left": left})
            conn.close()


def _stop_orphans(children: dict[int, socket.socket | None]) -> int:
    """Processes a finished run left running (adopted here, being a subreaper) are killed:
    the runs still going keep theirs below their own process (each run is a subreaper)."""
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as f:
            found = [int(p) for p in f.read().split()]
    except OSError:
        return 0
    stopped = 0
    for pid in found:
        if pid not in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                stopped += 1
    return stopped


# The run's side: everything below happens in the forked child.


def _child(
    request: dict[str, Any],
    fds: list[int],
    sockets: list[socket.socket | None],
    server_fds: list[int],
) -> None:
    code = 70
    try:
        os.setsid()
        # The run's daemons stay below it while it runs (as below a cold run's supervisor).
        _libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # one pending acts now
        # SIGINT stays ignored: a cold run inherits that from its supervisor too.
        for sock in sockets:
            if sock is not None:
                sock.close()
        for fd in server_fds[1:]:
            os.close(fd)
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target, inheritable=True)
        if len(fds) > 3:
            _enter_landlock(fds[3])
        for fd in fds:
            os.close(fd)
        code = _become_run(request)
    except BaseException:  # (fastflow's own failure: say it, exit 70)
        with contextlib.suppress(BaseException):
            os.write(2, f"fastflow: the warm start failed:\n{traceback.format_exc()}".encode())
    os._exit(code)


def _enter_landlock(ruleset_fd: int) -> None:
    """The run's own Landlock layer (built by fastflow from the run's policy) on top of the
    warm process's layer: the run gets exactly its policy."""
    libc = _libc()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "setting no_new_privs")
    if libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset_fd, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"enforcing the run's Landlock ruleset: {os.strerror(err)}")


def _become_run(request: dict[str, Any]) -> int:
    script = request["script"]
    env: dict[str, str] = request["env"]
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(env)
    sys.argv[:] = [script, *request.get("args", [])]
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:0] = [os.path.dirname(os.path.abspath(script)), *extra]
    _reseed()
    _fresh_stdio(env)
    return _run_main(script)


def _reseed() -> None:
    """Random state is the run's own, as in a fresh interpreter."""
    import random

    random.seed()
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        with contextlib.suppress(Exception):
            numpy_random.seed()


def _fresh_stdio(env: dict[str, str]) -> None:
    """stdin, stdout, stderr as a fresh interpreter opens them on these descriptors."""
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    encoding, _, errors = (env.get("PYTHONIOENCODING") or "").partition(":")
    encoding = encoding or "utf-8"

    def text(fd: int, mode: str, err: str, line: bool) -> io.TextIOWrapper:
        raw = io.FileIO(fd, mode, closefd=False)
        buffered: Any = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        return io.TextIOWrapper(
            buffered,
            encoding=encoding,
            errors=errors or err,
            line_buffering=line or (unbuffered and mode == "w"),
            write_through=unbuffered,
        )

    streams = {
        "stdin": text(0, "r", "strict", False),
        "stdout": text(1, "w", "strict", False),
        "stderr": text(2, "w", "backslashreplace", True),
    }
    for name, stream in streams.items():
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _run_main(script: str) -> int:
    import runpy

    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException as exc:  # (reported as the interpreter would)
        code = _report(exc, script)
    return _finish(code)


def _exit_code(exc: SystemExit) -> int:
    value = exc.code
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    with contextlib.suppress(Exception):
        print(value, file=sys.stderr)
    return 1


def _report(exc: BaseException, script: str) -> int:
    """The traceback from the script's first frame on (runpy and this file left out)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    with contextlib.suppress(BaseException):
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
    if isinstance(exc, KeyboardInterrupt):
        # As the interpreter does: the exit status says SIGINT.
        _finish(0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return 1


def _finish(code: int) -> int:
    """What the interpreter does at exit: wait for threads, atexit handlers, flush."""
    import atexit
    import threading

    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE and code == 0:
                code = 120
        except BaseException:
            code = code or 120
    return code


if __name__ == "__main__":
    sys.exit(main())
