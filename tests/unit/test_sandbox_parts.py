"""The sandbox's parts on their own: probing, the run user's view of folders, refusals."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from fastflow.errors import ConfigError
from fastflow.executors.run_sandbox import RunSandbox, prepare_host
from fastflow.pipelines.discovery import load_definition
from fastflow.runs.ports import RunSpec
from fastflow.sandbox import landlock
from fastflow.sandbox.access import blocking_folder
from fastflow.sandbox.policy import SandboxPolicy, build_policy, is_beneath
from fastflow.sandbox.status import RunUser, SandboxMode, SandboxStatus, probe

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="the run user applies to root only")


@ROOT_ONLY
def test_a_run_user_that_cannot_be_used_stops_the_start() -> None:
    with pytest.raises(ConfigError, match="not a user on this machine"):
        probe(SandboxMode.AUTO, "no-such-user-here")
    with pytest.raises(ConfigError, match="must not be root"):
        probe(SandboxMode.AUTO, "root")
    # Switched off, the run user does not matter.
    assert not probe(SandboxMode.OFF, "root").active


def test_the_seam_stands_for_a_kernel_without_landlock() -> None:
    status = probe(SandboxMode.REQUIRED, abi_probe=lambda: (0, "no Landlock here"))
    assert (status.active, status.refuses_runs) == (False, True)
    assert "no Landlock here" in status.refusal()
    assert "FASTFLOW_SANDBOX=auto" in status.refusal()


def test_blocking_folder_names_the_folder_the_run_user_cannot_enter(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    inner = outer / "inner"
    inner.mkdir(parents=True)
    user = RunUser("nobody", 65534, 65534)
    outer.chmod(0o700)
    tmp_path.chmod(0o711)
    assert blocking_folder(inner, user) == outer
    outer.chmod(0o711)
    assert blocking_folder(inner, user) in (None, *tmp_path.parents)


def test_policy_travels_as_json_and_knows_what_lies_beneath(tmp_path: Path) -> None:
    policy = build_policy(
        abi=7,
        env_dir=tmp_path / "env",
        python=Path("/usr/bin/python3"),
        code=tmp_path / "code",
        writable=[tmp_path / "work"],
        uv_cache=None,
        network=False,
        uid=None,
        gid=None,
    )
    assert SandboxPolicy.from_dict(policy.to_dict()) == policy
    assert "/usr" in policy.read_exec and str(tmp_path / "code") in policy.read
    assert is_beneath(Path("/etc/fastflow/data"), policy.read_exec) == "/etc"
    assert is_beneath(tmp_path / "data", policy.read_exec) is None


def _spec(folder: Path, network: bool) -> RunSpec:
    code = folder / "p"
    code.mkdir()
    (code / "main.py").write_text("print(1)\n")
    (code / "pipeline.json").write_text('{"network": %s}' % ("true" if network else "false"))
    run = folder / "runs" / "r1"
    return RunSpec(
        run_id="r1",
        pipeline=load_definition("p", code),
        env={},
        work_dir=run / "work",
        artifacts_dir=run / "artifacts",
        metrics_path=run / "metrics.jsonl",
    )


def test_network_false_is_refused_where_it_cannot_be_enforced(tmp_path: Path) -> None:
    spec = _spec(tmp_path, network=False)
    old_kernel = SandboxStatus(SandboxMode.AUTO, True, 3, None)
    assert "cannot take the network away" in (RunSandbox(old_kernel).refusal(spec) or "")
    assert RunSandbox(SandboxStatus(SandboxMode.AUTO, True, 4, None)).refusal(spec) is None
    off = SandboxStatus(SandboxMode.OFF, False, 0, None)
    assert RunSandbox(off).refusal(spec) is None  # the operator switched it off: a warning
    assert "FASTFLOW_SANDBOX=off" in (
        RunSandbox(off).prepare(spec, tmp_path, tmp_path).warning or ""
    )


def test_a_ruleset_takes_file_rules_and_denies_what_it_does_not_allow(tmp_path: Path) -> None:
    abi, why = landlock.abi_version()
    if abi == 0:
        pytest.skip(why)
    allowed, denied = tmp_path / "allowed.txt", tmp_path / "denied.txt"
    allowed.write_text("yes")
    denied.write_text("no")
    seen: list[str] = []

    def confined() -> None:
        with landlock.Ruleset(abi, landlock.fs_rights(abi)) as ruleset:
            # A file rule gets only the rights a file can have (no EINVAL for READ_DIR).
            assert ruleset.allow(str(allowed), landlock.READ)
            assert not ruleset.allow(str(tmp_path / "missing"), landlock.READ)
            ruleset.restrict_current_thread()
        seen.append(allowed.read_text())
        try:
            denied.read_text()
            seen.append("read")
        except PermissionError:
            seen.append("denied")

    thread = threading.Thread(target=confined)
    thread.start()
    thread.join()
    assert seen == ["yes", "denied"]
    assert denied.read_text() == "no"  # this thread is not confined


@ROOT_ONLY
def test_runs_are_refused_when_the_run_user_cannot_reach_data_dir(tmp_path: Path) -> None:
    """Not root without capabilities instead: such a run would still own root's Unix
    sockets (a container engine's), which Landlock does not guard."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    tmp_path.chmod(0o711)
    status = probe(SandboxMode.AUTO, "nobody")
    if not status.active:
        pytest.skip(status.reason)
    plan = prepare_host(status, private / "data", private / "logs", [])
    assert plan.status.refuses_runs
    assert f"chmod o+x {private}" in plan.status.refusal()
    assert "refused" in plan.status.summary()
    private.chmod(0o711)
    assert not prepare_host(status, private / "data", private / "logs", []).status.refuses_runs
