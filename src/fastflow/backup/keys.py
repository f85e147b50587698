"""The server's key files, sealed with a passphrase: scrypt derives the key, AES-256-GCM seals.

Without a passphrase an archive holds no key at all; secrets in its database copy stay
Fernet-encrypted either way.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from fastflow.backup.errors import BackupError
from fastflow.settings import Settings

# Name in the archive -> (file under DATA_DIR, the variable that overrides the file).
KEY_FILES: dict[str, tuple[str, str]] = {
    "encryption_key": ("encryption_key", "ENCRYPTION_KEY"),
    "secret_key": ("secret_key", "FASTFLOW_SECRET_KEY"),
    "hook_key": ("hook_key", "FASTFLOW_HOOK_KEY"),
    "worker_token": ("worker_token", "FASTFLOW_WORKER_TOKEN"),
}
_AAD = b"fastflow-backup-keys/1"
# scrypt's cost: 2^15 x 8 x 128 bytes = 32 MiB and ~0.1 s, OWASP's recommended minimum.
_N, _R, _P = 2**15, 8, 1


def _configured(settings: Settings) -> dict[str, str | None]:
    return {
        "encryption_key": settings.encryption_key,
        "secret_key": settings.secret_key,
        "hook_key": settings.hook_key,
        "worker_token": settings.worker_token,
    }


def collect(settings: Settings) -> dict[str, str]:
    """The keys the server uses: each variable when set, else its file under DATA_DIR."""
    keys: dict[str, str] = {}
    for name, value in _configured(settings).items():
        path = settings.data_dir / KEY_FILES[name][0]
        if value:
            keys[name] = value.strip()
        elif path.is_file():
            keys[name] = path.read_text(encoding="utf-8").strip()
    return keys


def passphrase_from(settings: Settings, passphrase_file: Path | None) -> str | None:
    """`--passphrase-file`'s first line, else FASTFLOW_BACKUP_PASSPHRASE, else None."""
    if passphrase_file is not None:
        try:
            lines = passphrase_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeError) as exc:
            raise BackupError(f"cannot read the passphrase file {passphrase_file}: {exc}") from None
        value = lines[0] if lines else ""
    else:
        secret = settings.backup_passphrase
        value = secret.get_secret_value() if secret is not None else ""
    if not value:
        if passphrase_file is not None:
            raise BackupError(f"the passphrase file {passphrase_file} is empty")
        return None
    if len(value) < 8:
        raise BackupError("a backup passphrase must be at least 8 characters")
    return value


def _kdf(salt: bytes, n: int, r: int, p: int) -> Scrypt:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p)


def seal(keys: dict[str, str], passphrase: str) -> bytes:
    salt, nonce = os.urandom(16), os.urandom(12)
    key = _kdf(salt, _N, _R, _P).derive(passphrase.encode("utf-8"))
    sealed = AESGCM(key).encrypt(nonce, orjson.dumps(keys), _AAD)
    b64 = base64.b64encode
    return orjson.dumps(
        {
            "kdf": "scrypt",
            "n": _N,
            "r": _R,
            "p": _P,
            "salt": b64(salt).decode(),
            "cipher": "AES-256-GCM",
            "nonce": b64(nonce).decode(),
            "sealed": b64(sealed).decode(),
        }
    )


def unseal(data: bytes, passphrase: str) -> dict[str, str]:
    """The keys, or BackupError for a wrong passphrase or a damaged member."""
    try:
        box = orjson.loads(data)
        n, r, p = int(box["n"]), int(box["r"]), int(box["p"])
        # A hostile archive must not make the KDF take gigabytes or hours.
        if box["kdf"] != "scrypt" or box["cipher"] != "AES-256-GCM":
            raise ValueError("unknown scheme")
        if not (2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 16 and 1 <= p <= 4):
            raise ValueError("KDF cost out of range")
        salt, nonce, sealed = (base64.b64decode(box[k]) for k in ("salt", "nonce", "sealed"))
        key = _kdf(salt, n, r, p).derive(passphrase.encode("utf-8"))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise BackupError("the archive's sealed keys are damaged") from None
    try:
        plain = AESGCM(key).decrypt(nonce, sealed, _AAD)
    except (InvalidTag, ValueError):
        raise BackupError(
            "the passphrase does not open the keys in this archive (wrong passphrase?)"
        ) from None
    keys = orjson.loads(plain)
    return {str(k): str(v) for k, v in keys.items() if k in KEY_FILES}


def write(keys: dict[str, str], data_dir: Path) -> None:
    """Put the keys where the server reads them: files under DATA_DIR, mode 0600."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, value in keys.items():
        path = data_dir / KEY_FILES[name][0]
        tmp = path.with_name(f".{path.name}.restore")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(value + "\n")
        os.replace(tmp, path)


def overridden(settings: Settings, keys: dict[str, str]) -> list[str]:
    """The variables set on this machine that win over a restored key of another value."""
    configured = _configured(settings)
    return [
        KEY_FILES[name][1]
        for name, value in keys.items()
        if configured.get(name) and (configured[name] or "").strip() != value
    ]


def existing(data_dir: Path) -> list[Path]:
    """Key files already under DATA_DIR (a restore would replace them)."""
    return [data_dir / f for f, _ in KEY_FILES.values() if (data_dir / f).exists()]
