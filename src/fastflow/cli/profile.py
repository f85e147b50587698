"""Where the CLI keeps the server it talks to and its token: one small file, mode 0600.

`fastflow login` writes `$XDG_CONFIG_HOME/fastflow/profile.json` (`~/.config/fastflow/` when
XDG_CONFIG_HOME is unset); `fastflow logout` removes it. `--url`/`FASTFLOW_URL` and
`--token`/`FASTFLOW_TOKEN` win over it. The profile's token is only ever sent to the
profile's own server: pointing the CLI at another URL never hands it the token.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"
FILE_NAME = "profile.json"


@dataclass(frozen=True)
class Profile:
    url: str
    token: str
    username: str
    expires_at: str | None = None


def config_dir(env: dict[str, str] | None = None) -> Path:
    values = os.environ if env is None else env
    base = values.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "fastflow"


def profile_path() -> Path:
    return config_dir() / FILE_NAME


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    return url


def load() -> Profile | None:
    """The saved profile, or None (none saved, or unreadable: the CLI then asks to log in)."""
    try:
        data = json.loads(profile_path().read_text(encoding="utf-8"))
        return Profile(
            url=str(data["url"]),
            token=str(data["token"]),
            username=str(data.get("username", "")),
            expires_at=data.get("expires_at"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(profile: Profile) -> Path:
    """Write the profile atomically, readable by its owner only (0600, folder 0700)."""
    path = profile_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(profile), out, indent=2)
        out.write("\n")
    os.chmod(temporary, 0o600)  # whatever the umask said
    os.replace(temporary, path)
    return path


def forget() -> bool:
    """Remove the profile; True when there was one."""
    try:
        profile_path().unlink()
    except FileNotFoundError:
        return False
    return True


@dataclass(frozen=True)
class Target:
    """The server a command talks to and the token it sends (None: not logged in)."""

    url: str
    token: str | None
    from_profile: bool


def resolve(url: str | None, token: str | None) -> Target:
    """Flags and environment first (Typer fills both into `url`/`token`), then the profile."""
    saved = load()
    chosen = normalize_url(url) if url else (saved.url if saved else DEFAULT_URL)
    if token:
        return Target(chosen, token, from_profile=False)
    if saved is not None and normalize_url(saved.url) == chosen:
        return Target(chosen, saved.token, from_profile=True)
    return Target(chosen, None, from_profile=False)
