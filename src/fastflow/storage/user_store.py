"""UserStore: accounts for login."""

from __future__ import annotations

import unicodedata
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import col, func, select

from fastflow import usernames
from fastflow.errors import ConflictError, NotFoundError
from fastflow.records import User, utcnow
from fastflow.storage.database import Database


class UserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def count(self) -> int:
        with self._db.session() as s:
            return int(s.exec(select(func.count()).select_from(User)).one())

    def by_username(self, username: str) -> User | None:
        """The user of `username`, as typed: NFKC, case does not count (exact match first)."""
        name = unicodedata.normalize("NFKC", username)
        with self._db.session() as s:
            user = s.exec(select(User).where(col(User.username) == name)).first()
            if user is not None:
                return user
            # Few users: compare in Python, where casefold() is Unicode-correct.
            return next(
                (u for u in s.exec(select(User)).all() if usernames.same(u.username, name)), None
            )

    def get(self, user_id: str) -> User:
        with self._db.session() as s:
            user = s.get(User, user_id)
        if user is None:
            raise NotFoundError(f"user {user_id!r} not found")
        return user

    def create(self, username: str, password_hash: str, role: str) -> User:
        username = usernames.normalize(username)
        if self.by_username(username) is not None:
            raise ConflictError(f"user {username!r} already exists (case does not count)")
        user = User(username=username, password_hash=password_hash, role=role)
        with self._db.session() as s:
            s.add(user)
            try:
                s.commit()
            except sa.exc.IntegrityError:
                raise ConflictError(f"user {username!r} already exists") from None
        return user

    def by_sso(self, issuer: str, subject: str) -> User | None:
        """The account linked to this identity of an OpenID Connect provider, if any."""
        with self._db.session() as s:
            return s.exec(
                select(User).where(col(User.sso_issuer) == issuer, col(User.sso_subject) == subject)
            ).first()

    def create_sso(self, username: str, role: str, issuer: str, subject: str) -> User:
        """An account without a password, found again by (issuer, subject)."""
        username = usernames.normalize(username)
        if self.by_username(username) is not None:
            raise ConflictError(f"user {username!r} already exists (case does not count)")
        user = User(
            username=username, password_hash=None, role=role, sso_issuer=issuer, sso_subject=subject
        )
        with self._db.session() as s:
            s.add(user)
            try:
                s.commit()
            except sa.exc.IntegrityError:
                raise ConflictError(f"user {username!r} already exists") from None
        return user

    def link_sso(self, username: str, issuer: str, subject: str) -> User:
        """Make an existing account the one this SSO identity signs in as; its password goes."""
        user = self.by_username(username)
        if user is None:
            raise NotFoundError(f"user {username!r} not found")
        other = self.by_sso(issuer, subject)
        if other is not None and other.id != user.id:
            raise ConflictError(f"this SSO identity already signs in as {other.username!r}")
        values = {
            "sso_issuer": issuer,
            "sso_subject": subject,
            "password_hash": None,
            "break_glass": False,
            "sessions_valid_after": utcnow(),
        }
        with self._db.session() as s:
            s.execute(sa.update(User).where(col(User.id) == user.id).values(**values))
            s.commit()
        return user.model_copy(update=values)

    def set_break_glass(self, username: str | None) -> None:
        """Make `username` the only break-glass account (None: there is none)."""
        target = self.by_username(username) if username is not None else None
        if username is not None and target is None:
            raise NotFoundError(f"user {username!r} not found")
        with self._db.session() as s:
            s.execute(sa.update(User).values(break_glass=False))
            if target is not None:
                s.execute(sa.update(User).where(col(User.id) == target.id).values(break_glass=True))
            s.commit()

    def set_password(self, username: str, password_hash: str) -> None:
        found = self.by_username(username)
        with self._db.session() as s:
            res = s.execute(
                sa.update(User)
                .where(col(User.id) == (found.id if found else ""))
                .values(password_hash=password_hash, sessions_valid_after=utcnow())
            )
            s.commit()
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFoundError(f"user {username!r} not found")

    def all(self) -> list[User]:
        with self._db.session() as s:
            return list(s.exec(select(User).order_by(col(User.username))).all())

    def update(
        self, username: str, role: StrEnum | None = None, disabled: bool | None = None
    ) -> User:
        """Change role and/or the disabled flag; NotFoundError for an unknown user."""
        user = self.by_username(username)
        if user is None:
            raise NotFoundError(f"user {username!r} not found")
        values: dict[str, object] = {}
        if role is not None:
            values["role"] = role.value
        if disabled is not None:
            values["disabled"] = disabled
        if (role is not None and role.value != user.role) or (disabled and not user.disabled):
            # Every session and API token of the user ends (and stays ended on re-enable).
            values["sessions_valid_after"] = utcnow()
        if values:
            with self._db.session() as s:
                s.execute(sa.update(User).where(col(User.id) == user.id).values(**values))
                s.commit()
        return user.model_copy(update=values)

    def touch_login(self, user_id: str) -> None:
        with self._db.session() as s:
            s.execute(sa.update(User).where(col(User.id) == user_id).values(last_login_at=utcnow()))
            s.commit()
