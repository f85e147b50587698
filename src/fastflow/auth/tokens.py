"""Bearer tokens: short-lived JWTs (HS256, PyJWT) naming the user, with an id to revoke them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from fastflow.errors import AuthError

_ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    expires_at: datetime
    jti: str = ""
    csrf: str = ""
    issued_at: datetime | None = None  # to the microsecond (the `iat` claim has seconds)


class TokenIssuer:
    def __init__(self, secret_key: str, lifetime_minutes: int) -> None:
        self._key = secret_key
        self._lifetime = timedelta(minutes=lifetime_minutes)

    @staticmethod
    def generate_key() -> str:
        return secrets.token_urlsafe(48)

    def derive_key(self, purpose: str) -> str:
        """A separate secret for `purpose` (e.g. the UI session cookie), from the signing key."""
        return hmac.new(self._key.encode(), purpose.encode(), hashlib.sha256).hexdigest()

    def issue(self, user_id: str) -> tuple[str, datetime]:
        """A signed token; its `jti` lets logout deny it, its `csrf` binds the CSRF token."""
        now = datetime.now(UTC)
        expires = now + self._lifetime
        payload = {
            "sub": user_id,
            "exp": expires,
            "iat": now,
            "iat_us": int(now.timestamp() * 1_000_000),
            "typ": "access",
            "jti": secrets.token_hex(16),
            "csrf": secrets.token_urlsafe(24),
        }
        return jwt.encode(payload, self._key, algorithm=_ALGORITHM), expires

    def verify(self, token: str) -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                options={"require": ["exp", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired; log in again") from None
        except jwt.InvalidTokenError:
            raise AuthError("invalid token") from None
        if payload.get("typ") != "access":
            raise AuthError("invalid token")
        return TokenClaims(
            str(payload["sub"]),
            datetime.fromtimestamp(payload["exp"], UTC),
            str(payload["jti"]),
            str(payload.get("csrf", "")),
            _issued_at(payload),
        )


def _issued_at(payload: dict[str, object]) -> datetime | None:
    micro = payload.get("iat_us")
    if isinstance(micro, int):
        return datetime.fromtimestamp(micro / 1_000_000, UTC)
    seconds = payload.get("iat")
    return datetime.fromtimestamp(seconds, UTC) if isinstance(seconds, int | float) else None
