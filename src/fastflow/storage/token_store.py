"""TokenStore: API tokens (hashed) and the deny-list of ended sessions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from fastflow.errors import NotFoundError
from fastflow.records import ApiToken, RevokedToken, User, utcnow
from fastflow.storage.database import Database

# The checks asked on every authenticated request, as Core statements built once: building
# a statement, its cache key and an ORM session per request cost several times the query.
_USERS: sa.Table = User.__table__  # type: ignore[attr-defined]
_TOKENS: sa.Table = ApiToken.__table__  # type: ignore[attr-defined]
_REVOKED: sa.Table = RevokedToken.__table__  # type: ignore[attr-defined]
_USER_KEYS = tuple(c.key for c in _USERS.c)
_TOKEN_KEYS = tuple(c.key for c in _TOKENS.c)
_SESSION_USER = sa.select(
    *_USERS.c,
    sa.exists().where(_REVOKED.c.jti == sa.bindparam("jti")).label("revoked"),
).where(_USERS.c.id == sa.bindparam("user_id"))
_TOKEN_USER = (
    sa.select(*_TOKENS.c, *_USERS.c)
    .select_from(_TOKENS.outerjoin(_USERS, _USERS.c.id == _TOKENS.c.user_id))
    .where(_TOKENS.c.token_hash == sa.bindparam("token_hash"))
)


def _user_of(values: Sequence[Any]) -> User:
    """A User from its columns as read (no validation: they come from the users table)."""
    return User.model_construct(**dict(zip(_USER_KEYS, values, strict=True)))


class TokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, token: ApiToken) -> ApiToken:
        with self._db.session() as s:
            s.add(token)
            s.commit()
        return token

    def get(self, token_id: str) -> ApiToken:
        with self._db.session() as s:
            row = s.get(ApiToken, token_id)
        if row is None:
            raise NotFoundError(f"API token {token_id!r} not found")
        return row

    def listing(self, user_id: str | None = None) -> list[tuple[ApiToken, str]]:
        """Tokens with their owner's username, newest first (all users when `user_id` is None)."""
        query = select(ApiToken, User.username).join(User, col(User.id) == col(ApiToken.user_id))
        if user_id is not None:
            query = query.where(col(ApiToken.user_id) == user_id)
        with self._db.session() as s:
            rows = s.exec(query.order_by(col(ApiToken.created_at).desc())).all()
        return [(t, name) for t, name in rows]

    def revoke(self, token_id: str) -> None:
        with self._db.session() as s:
            s.execute(
                sa.update(ApiToken)
                .where(col(ApiToken.id) == token_id, col(ApiToken.revoked_at).is_(None))
                .values(revoked_at=utcnow())
            )
            s.commit()

    def touch(self, token_id: str, when: datetime) -> None:
        with self._db.session() as s:
            s.execute(
                sa.update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=when)
            )
            s.commit()

    def revoke_session(self, jti: str, expires_at: datetime) -> None:
        """Deny a JWT until it would have expired anyway; expired entries are pruned here."""
        with self._db.session() as s:
            s.execute(sa.delete(RevokedToken).where(col(RevokedToken.expires_at) < utcnow()))
            if s.get(RevokedToken, jti) is None:
                s.add(RevokedToken(jti=jti, expires_at=expires_at))
            s.commit()

    def is_session_revoked(self, jti: str) -> bool:
        with self._db.session() as s:
            return s.get(RevokedToken, jti) is not None

    def session_user(self, jti: str, user_id: str) -> tuple[User | None, bool]:
        """A signed-in session's user (None: no such user) and whether the session was
        ended by logout: one query, asked on every request that carries a session."""
        with self._db.engine.connect() as conn:
            row = conn.execute(_SESSION_USER, {"jti": jti, "user_id": user_id}).first()
        if row is None:
            return None, self.is_session_revoked(jti)
        return _user_of(row[:-1]), bool(row[-1])

    def token_user(self, token_hash: str) -> tuple[ApiToken, User | None] | None:
        """An API token by its hash with its owner (None: no such user), in one query;
        None when no token has this hash. Asked on every request that carries one."""
        with self._db.engine.connect() as conn:
            row = conn.execute(_TOKEN_USER, {"token_hash": token_hash}).first()
        if row is None:
            return None
        split = len(_TOKEN_KEYS)
        token = ApiToken.model_construct(**dict(zip(_TOKEN_KEYS, row[:split], strict=True)))
        return token, None if row[split] is None else _user_of(row[split:])
