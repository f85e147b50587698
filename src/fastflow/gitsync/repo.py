"""GitRepo: the git commands sync needs, run as subprocesses (never through a shell).

Credentials reach git only through the environment of one command (GIT_CONFIG_* variables
setting `http.extraHeader`), so a token is never written to `.git/config`, the remote URL,
the command line (`ps`) or the output fastflow keeps.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

_TIMEOUT = 300.0


@dataclass(frozen=True)
class GitResult:
    code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.code == 0


class GitError(Exception):
    """A git command failed; the message carries its (scrubbed) output."""


def auth_env(header: str) -> dict[str, str]:
    """Environment that makes git send `header` on HTTP requests, for one command only."""
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": header,
    }


def public_url(url: str) -> str:
    """A remote URL without any user:password part, for display."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class GitRepo:
    def __init__(self, path: Path, git_bin: str = "git") -> None:
        self.path = path
        self.git_bin = git_bin

    async def run(
        self, *args: str, env: dict[str, str] | None = None, secrets: tuple[str, ...] = ()
    ) -> GitResult:
        """Run `git <args>` in the checkout; output is stdout+stderr with secrets masked."""
        full_env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",  # never wait for a password on a terminal
            "GIT_ASKPASS": "true",
            "LC_ALL": "C",
            **(env or {}),
        }
        try:
            done = await asyncio.to_thread(
                subprocess.run,
                [self.git_bin, *args],
                cwd=self.path,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=_TIMEOUT,
                # The files git writes are pipeline code, read by runs that may be another
                # OS user, while the server's own umask is 077.
                umask=0o022,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return GitResult(124, f"git {args[0]} did not finish within {_TIMEOUT:.0f}s")
        text = done.stdout.decode("utf-8", "replace")
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return GitResult(done.returncode, text)

    async def check(self, *args: str, **kw: object) -> str:
        result = await self.run(*args, **kw)  # type: ignore[arg-type]
        if not result.ok:
            raise GitError(f"git {args[0]} failed: {result.output.strip()}")
        return result.output.strip()

    async def is_checkout(self) -> bool:
        if not self.path.is_dir():
            return False
        result = await self.run("rev-parse", "--is-inside-work-tree")
        return result.ok and result.output.strip() == "true"

    async def valid_branch(self, name: str) -> bool:
        if not name or name.startswith("-"):
            return False
        return (await self.run("check-ref-format", "--branch", name)).ok

    async def head(self) -> str | None:
        result = await self.run("rev-parse", "--verify", "--quiet", "HEAD")
        return result.output.strip() if result.ok else None

    async def current_branch(self) -> str | None:
        result = await self.run("symbolic-ref", "--quiet", "--short", "HEAD")
        return result.output.strip() if result.ok else None

    async def remote_url(self) -> str | None:
        result = await self.run("remote", "get-url", "origin")
        return public_url(result.output.strip()) if result.ok else None

    async def subject(self) -> str | None:
        result = await self.run("log", "-1", "--format=%s")
        return result.output.strip() if result.ok else None

    async def ahead_behind(self, branch: str) -> tuple[int, int] | None:
        """Commits HEAD has that origin/<branch> lacks, and the reverse (as of the last fetch)."""
        result = await self.run(
            "rev-list", "--left-right", "--count", f"HEAD...refs/remotes/origin/{branch}"
        )
        match = re.match(r"^(\d+)\s+(\d+)$", result.output.strip()) if result.ok else None
        return (int(match.group(1)), int(match.group(2))) if match else None

    async def toplevel(self) -> Path | None:
        """The root of the repository the checkout belongs to."""
        result = await self.run("rev-parse", "--show-toplevel")
        # git prints the real path (symlinks resolved), as os.path.realpath does.
        return Path(result.output.strip()) if result.ok else None

    async def untracked_files(self) -> list[str]:
        """Files git does not track and does not ignore."""
        result = await self.run("ls-files", "-z", "--others", "--exclude-standard")
        return [name for name in result.output.split("\0") if name]

    async def tree_files(self, ref: str) -> set[str]:
        result = await self.run("ls-tree", "-r", "-z", "--name-only", ref)
        return {name for name in result.output.split("\0") if name} if result.ok else set()

    async def dirty_files(self) -> list[str]:
        result = await self.run("status", "--porcelain", "--untracked-files=no")
        return [line[3:] for line in result.output.splitlines() if line.strip()]
