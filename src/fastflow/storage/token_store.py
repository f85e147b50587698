"""TokenStore: API tokens (hashed) and the deny-list of ended sessions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select

from fastflow.errors import NotFoundError
from fastflow.records import ApiToken, RevokedToken, User, utcnow
from fastflow.storage.database import Database


class TokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, token: ApiToken) -> ApiToken:
        with self._db.session() as s:
            s.add(token)
            s.commit()
        return token

    def by_hash(self, token_hash: str) -> ApiToken | None:
        with self._db.session() as s:
            return s.exec(select(ApiToken).where(col(ApiToken.token_hash) == token_hash)).first()

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
        revoked = sa.exists().where(col(RevokedToken.jti) == jti)
        with self._db.session() as s:
            row = s.execute(
                sa.select(User, revoked.label("revoked")).where(col(User.id) == user_id)
            ).first()
        if row is None:
            return None, self.is_session_revoked(jti)
        return row[0], bool(row[1])
