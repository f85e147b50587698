"""What a run's container sees: its folders, its command and its environment."""

from __future__ import annotations

from fastflow.pipelines.discovery import PipelineDefinition
from fastflow.runs.ports import RunSpec

WORKER_LABEL = "fastflow-worker"
# The server that started a container (its DATA_DIR's instance id): the server's sweep
# removes only its own containers.
INSTANCE_LABEL = "fastflow-instance"
APP_DIR = "/app"
UV_CACHE = "/uv-cache"
ARTIFACTS = "/artifacts"
WORK = "/work"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# Host paths and identity mean nothing inside the container; the image has its own.
_HOST_ONLY = frozenset(
    {"PATH", "HOME", "TMPDIR", "USER", "LOGNAME", "SSL_CERT_FILE", "SSL_CERT_DIR",
     "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
)  # fmt: skip


def container_command(pipeline: PipelineDefinition, uv: str = "uv") -> list[str]:
    """`uv run` of the pipeline as mounted under /app (folder or single-file form)."""
    if pipeline.kind == "file":
        return [uv, "run", "--no-project", "--script", f"{APP_DIR}/{pipeline.name}.py"]
    base = f"{APP_DIR}/{pipeline.name}"
    cmd = [uv, "run", "--no-project"]
    if pipeline.requirements_file is not None:
        cmd += ["--with-requirements", f"{base}/requirements.txt"]
    return [*cmd, f"{base}/main.py"]


def container_env(spec: RunSpec) -> dict[str, str]:
    """The run's environment, with container paths in place of the host's."""
    env = {k: v for k, v in spec.env.items() if k not in _HOST_ONLY}
    env.update(
        {
            "HOME": "/tmp",  # noqa: S108  (inside the container, which is the run's own)
            "FASTFLOW_ARTIFACTS_DIR": ARTIFACTS,
            "UV_CACHE_DIR": UV_CACHE,
            # The package index may sit behind a proxy whose CA only the system bundle has.
            "UV_SYSTEM_CERTS": "1",
            "SSL_CERT_FILE": CA_BUNDLE,
        }
    )
    return env
