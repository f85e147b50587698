"""SyncService: pull PIPELINES_DIR from its remote; nothing local is ever lost.

A sync works only when PIPELINES_DIR is the root of its own repository (a folder inside a
bigger checkout, e.g. the fastflow clone, answers 409: checking out that repository would
change files outside PIPELINES_DIR). It fetches the branch, keeps local commits the remote
lacks under `refs/fastflow/backup/<time>`, stashes uncommitted changes (and untracked files
the remote's files would overwrite) under `refs/fastflow/backup/<time>-changes`, and checks
out `origin/<branch>` — without force, so git stops rather than overwrite anything. Then
discovery refreshes, schedules of pipelines that vanished are reported, and (UV_PRE_HEAT)
new or changed environments are built in the background.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastflow.errors import ConflictError, FastflowError, InvalidInputError
from fastflow.gitsync.github_app import GitHubAppAuth, GitHubAppError
from fastflow.gitsync.preheat import Preheater
from fastflow.gitsync.repo import GitError, GitRepo, auth_env
from fastflow.pipelines.discovery import PipelineDefinition
from fastflow.records import utcnow

log = logging.getLogger(__name__)

_OUTPUT_LIMIT = 20_000


class SyncFailedError(FastflowError):
    """The remote could not be reached or refused us: not the caller's fault."""

    status_code = 502


class SyncService:
    def __init__(
        self,
        repo: GitRepo,
        default_branch: str,
        state_file: Path,
        refresh: Callable[[], dict[str, PipelineDefinition]],
        removed: Callable[[set[str]], list[str]],
        preheater: Preheater | None = None,
        github: GitHubAppAuth | None = None,
    ) -> None:
        self.repo = repo
        self.default_branch = default_branch
        self.state_file = state_file
        self.refresh = refresh
        # Pipelines the sync removed: their runs are cancelled, their schedules disabled.
        self.removed = removed
        self.preheater = preheater
        self.github = github
        self._lock = asyncio.Lock()

    async def sync(self, branch: str | None = None, reason: str = "api") -> dict[str, Any]:
        """Pull `branch` (default GIT_BRANCH); returns the recorded result. One at a time."""
        branch = (branch or self.default_branch).strip()
        if not await self.repo.valid_branch(branch):
            raise InvalidInputError(f"branch: {branch!r} is not a valid branch name")
        if not await self.repo.is_checkout():
            raise ConflictError(
                f"PIPELINES_DIR ({self.repo.path}) is not a git checkout; clone your pipeline "
                "repository there to use sync"
            )
        root = await self.repo.toplevel()
        here = await asyncio.to_thread(os.path.realpath, self.repo.path)
        if root is not None and str(root) != here:
            raise ConflictError(
                f"PIPELINES_DIR ({self.repo.path}) is a folder inside the git repository "
                f"{root}; a sync would check out that whole repository and could change files "
                "outside PIPELINES_DIR, so fastflow does not sync it. Make PIPELINES_DIR a "
                "clone of your pipeline repository of its own (git clone <url> <folder>)"
            )
        async with self._lock:
            started = time.monotonic()
            before_names = set(await asyncio.to_thread(self.refresh))
            result: dict[str, Any] = {"branch": branch, "reason": reason, "at": None}
            try:
                await self._pull(branch, result)
            except (GitError, GitHubAppError) as exc:
                result.update(ok=False, error=str(exc))
            result["at"] = utcnow().isoformat()
            result["duration_seconds"] = round(time.monotonic() - started, 3)
            if result.get("ok"):
                found = await asyncio.to_thread(self.refresh)
                gone = before_names - set(found)
                result["removed_pipelines"] = sorted(gone)
                result["added_pipelines"] = sorted(set(found) - before_names)
                result["warnings"] = await asyncio.to_thread(self.removed, gone) if gone else []
                if self.preheater is not None:
                    result["preheating"] = self.preheater.start(found)
            await asyncio.to_thread(self._save, result)
        if not result.get("ok"):
            log.warning("sync of %s failed: %s", branch, result.get("error"))
            not_found = "couldn't find remote ref" in result.get("error", "")
            if not_found:
                raise InvalidInputError(f"branch: {branch!r} does not exist on the remote")
            raise SyncFailedError(f"sync failed: {result['error']}")
        log.info("synced %s: %s → %s", branch, result.get("from_commit"), result["commit"])
        return result

    async def _pull(self, branch: str, result: dict[str, Any]) -> None:
        env: dict[str, str] = {}
        secrets: tuple[str, ...] = ()
        if self.github is not None:
            header, token = await self.github.git_header()
            env, secrets = auth_env(header), (token, header.split()[-1])
        before = await self.repo.head()
        fetched = await self.repo.run(
            "fetch",
            "--prune",
            "--no-tags",
            "origin",
            f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
            env=env,
            secrets=secrets,
        )
        output = [fetched.output]
        if not fetched.ok:
            raise GitError(f"git fetch failed: {fetched.output.strip()[-1000:]}")
        ahead_behind = await self.repo.ahead_behind(branch)
        ahead = ahead_behind[0] if ahead_behind and before else 0
        stamp = time.strftime("%Y%m%dT%H%M%S")
        if ahead and before:
            backup = f"refs/fastflow/backup/{stamp}"
            await self.repo.check("update-ref", backup, before)
            output.append(f"remote wins: {ahead} local commit(s) replaced; kept as {backup}\n")
        kept, changes_ref = await self._keep_local_changes(branch, stamp, output)
        checkout = await self.repo.run("checkout", "-B", branch, f"refs/remotes/origin/{branch}")
        output.append(checkout.output)
        if not checkout.ok:
            raise GitError(f"git checkout failed: {checkout.output.strip()[-1000:]}")
        await self.repo.run("branch", f"--set-upstream-to=origin/{branch}", branch)
        after = await self.repo.head()
        result.update(
            ok=True,
            error=None,
            from_commit=before,
            commit=after,
            changed=before != after,
            discarded_local_commits=ahead,
            kept_local_changes=kept,
            local_changes_ref=changes_ref,
            output="".join(output)[-_OUTPUT_LIMIT:],
        )

    async def _keep_local_changes(
        self, branch: str, stamp: str, output: list[str]
    ) -> tuple[list[str], str | None]:
        """Stash uncommitted changes, and untracked files the remote's files would replace,
        under a ref of their own; (their paths, the ref)."""
        dirty = await self.repo.dirty_files()
        incoming = await self.repo.tree_files(f"refs/remotes/origin/{branch}")
        colliding = [f for f in await self.repo.untracked_files() if f in incoming]
        paths = [*dirty, *colliding]
        if not paths:
            return [], None
        identity = ["-c", "user.name=fastflow", "-c", "user.email=fastflow@localhost"]
        await self.repo.check(
            *identity,
            "stash",
            "push",
            "--include-untracked",
            "-m",
            f"fastflow sync {stamp}: local changes",
            "--",
            *paths,
        )
        ref = f"refs/fastflow/backup/{stamp}-changes"
        await self.repo.check("update-ref", ref, "refs/stash")
        output.append(
            f"local changes kept as {ref} ({', '.join(paths)}); bring them back with "
            f"git stash apply {ref}\n"
        )
        return paths, ref

    async def status(self) -> dict[str, Any]:
        """Branch, commit, ahead/behind (as of the last fetch) and the last sync's result."""
        last = await asyncio.to_thread(self._load)
        info: dict[str, Any] = {
            "is_git_checkout": await self.repo.is_checkout(),
            "default_branch": self.default_branch,
            "github_app": self.github is not None,
            "last_sync": last,
        }
        if not info["is_git_checkout"]:
            return info
        branch = await self.repo.current_branch()
        ahead_behind = await self.repo.ahead_behind(branch) if branch else None
        info.update(
            branch=branch,
            commit=await self.repo.head(),
            subject=await self.repo.subject(),
            remote=await self.repo.remote_url(),
            ahead=ahead_behind[0] if ahead_behind else None,
            behind=ahead_behind[1] if ahead_behind else None,
            dirty=bool(await self.repo.dirty_files()),
            warming=sorted(self.preheater.warming) if self.preheater else [],
        )
        return info

    def _save(self, result: dict[str, Any]) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1), encoding="utf-8")
        tmp.replace(self.state_file)

    def _load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None
