"""Fernet encryption of stored values, with the key from ENCRYPTION_KEY or DATA_DIR."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from fastflow.errors import ConfigError
from fastflow.keyfile import load_or_create
from fastflow.settings import Settings

KEY_FILE_NAME = "encryption_key"


class DecryptionError(ConfigError):
    """A stored value cannot be decrypted: the key is not the one it was written with."""


class SecretCipher:
    """Encrypts and decrypts text values with one Fernet key."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.strip().encode())
        except (ValueError, TypeError):
            # The key itself is never echoed: it is a secret even when malformed.
            raise ConfigError(
                "invalid configuration: ENCRYPTION_KEY must be a Fernet key "
                "(32 url-safe base64-encoded bytes, e.g. from "
                "'python -c \"from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())\"')"
            ) from None

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plain text, or DecryptionError when the key does not fit."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise DecryptionError(
                "stored secrets cannot be decrypted with this ENCRYPTION_KEY: it is not the "
                "key they were written with (restore the previous key, or the file "
                "DATA_DIR/encryption_key)"
            ) from None


def load_cipher(settings: Settings) -> SecretCipher:
    """ENCRYPTION_KEY, else the key in DATA_DIR/encryption_key (generated on first start)."""
    key = settings.encryption_key or load_or_create(
        settings.data_dir / KEY_FILE_NAME, SecretCipher.generate_key, "encryption key"
    )
    return SecretCipher(key)
