"""SecretService: CRUD with encryption, and what a run receives from the store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from fastflow.errors import InvalidInputError
from fastflow.records import Secret
from fastflow.secrets.crypto import SecretCipher
from fastflow.secrets.masking import Masker
from fastflow.secrets.store import SecretStore

KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,199}$"
_KEY = re.compile(KEY_PATTERN)
MAX_VALUE_LENGTH = 64 * 1024
# Inside `SecretService.read_once` (in that thread only): each service's entries, read once.
_READ: ContextVar[dict[int, list[PlainEntry]] | None] = ContextVar("secrets_read", default=None)


@dataclass(frozen=True)
class PlainEntry:
    """A decrypted entry of the store."""

    key: str
    value: str
    is_secret: bool
    row: Secret


@dataclass(frozen=True)
class RunSecrets:
    """What the store gives one run: its environment additions and what to mask."""

    env: dict[str, str] = field(default_factory=dict)
    secret_keys: frozenset[str] = frozenset()

    @property
    def secret_values(self) -> tuple[str, ...]:
        return tuple(self.env[k] for k in sorted(self.secret_keys))

    def masker(self) -> Masker:
        return Masker(self.secret_values)


def check_key(key: str) -> str:
    """A usable environment variable name, or InvalidInputError."""
    if not _KEY.match(key):
        raise InvalidInputError(
            f"invalid secret key {key[:200]!r}: use letters, digits and '_', not starting "
            "with a digit, at most 200 characters"
        )
    if key.upper().startswith("FASTFLOW_"):
        raise InvalidInputError(f"secret key {key!r}: the FASTFLOW_ prefix is reserved")
    return key


def _check_value(value: str) -> str:
    if "\x00" in value:
        raise InvalidInputError("a secret value must not contain NUL bytes")
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidInputError(f"a secret value must be at most {MAX_VALUE_LENGTH} characters")
    return value


class SecretService:
    def __init__(self, store: SecretStore, cipher: SecretCipher) -> None:
        self.store = store
        self.cipher = cipher

    def verify_key(self) -> None:
        """Start-up check: a stored value decrypts with this key (else DecryptionError)."""
        row = self.store.first()
        if row is not None:
            self.cipher.decrypt(row.value)

    def _plain(self, row: Secret) -> PlainEntry:
        return PlainEntry(row.key, self.cipher.decrypt(row.value), row.is_secret, row)

    def entries(self) -> list[PlainEntry]:
        read = _READ.get()
        if read is None:
            return [self._plain(r) for r in self.store.all()]
        if id(self) not in read:
            read[id(self)] = [self._plain(r) for r in self.store.all()]
        return read[id(self)]

    @contextmanager
    def read_once(self) -> Iterator[None]:
        """Within the block, and in this thread only, the store is read and decrypted once:
        a batch of runs sent together gets its secrets from one read, not one per run."""
        token = _READ.set({})
        try:
            yield
        finally:
            _READ.reset(token)

    def get(self, key: str) -> PlainEntry:
        return self._plain(self.store.get(check_key(key)))

    def create(self, key: str, value: str, is_secret: bool) -> PlainEntry:
        row = self.store.create(check_key(key), self.cipher.encrypt(_check_value(value)), is_secret)
        return self._plain(row)

    def update(self, key: str, value: str | None, is_secret: bool | None) -> PlainEntry:
        encrypted = None if value is None else self.cipher.encrypt(_check_value(value))
        return self._plain(self.store.update(check_key(key), encrypted, is_secret))

    def delete(self, key: str) -> None:
        self.store.delete(check_key(key))

    def for_run(self, wanted: list[str] | None) -> RunSecrets:
        """Every secret (or only `wanted` ones) plus every plain parameter of the store.

        A key in `wanted` that is not stored is an InvalidInputError: a pipeline that needs a
        secret should fail with its name, not later with a confusing KeyError.
        """
        entries = self.entries()
        if wanted is not None:
            stored = {e.key for e in entries if e.is_secret}
            missing = [k for k in wanted if k not in stored]
            if missing:
                raise InvalidInputError(
                    "pipeline.json names secrets that are not stored: " + ", ".join(missing)
                )
        chosen = [e for e in entries if not e.is_secret or wanted is None or e.key in wanted]
        return RunSecrets(
            env={e.key: e.value for e in chosen},
            secret_keys=frozenset(e.key for e in chosen if e.is_secret),
        )

    def all_secret_values(self) -> tuple[str, ...]:
        """Every stored secret value (for masking text that is not tied to one run)."""
        return tuple(e.value for e in self.entries() if e.is_secret)
