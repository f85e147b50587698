"""The environment a run's process sees: a small allow-list of the host's, plus its own."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

# The server's own environment holds its database URL, keys and admin password; a run gets
# only what a program needs to behave like it does in a shell (locale, proxies, CAs).
_INHERITED = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
)  # fmt: skip


def build_run_env(
    *,
    run_id: str,
    pipeline: str,
    attempt: int,
    artifacts_dir: Path,
    parameters: Mapping[str, str],
    extra: Mapping[str, str] | None = None,
    host_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Host allow-list, then secrets/extra, then parameters, then fastflow's own variables."""
    host = os.environ if host_env is None else host_env
    env = {k: host[k] for k in _INHERITED if k in host}
    env.update(extra or {})
    env.update(parameters)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",  # lines reach the live log as they are printed
            "PYTHONIOENCODING": "utf-8",
            "FASTFLOW_RUN_ID": run_id,
            "FASTFLOW_PIPELINE": pipeline,
            "FASTFLOW_ATTEMPT": str(attempt),
            "FASTFLOW_ARTIFACTS_DIR": str(artifacts_dir),
            "FASTFLOW_PARAMS": json.dumps(dict(parameters), sort_keys=True),
        }
    )
    return env
