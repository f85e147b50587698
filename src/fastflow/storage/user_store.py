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
