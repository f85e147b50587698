"""SecretStore: the queries on the `secrets` table (values arrive already encrypted)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select

from fastflow.errors import ConflictError, NotFoundError
from fastflow.records import Secret, utcnow
from fastflow.storage.database import Database


class SecretStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self) -> list[Secret]:
        with self._db.session() as s:
            return list(s.exec(select(Secret).order_by(col(Secret.key))).all())

    def first(self) -> Secret | None:
        with self._db.session() as s:
            return s.exec(select(Secret).limit(1)).first()

    def get(self, key: str) -> Secret:
        with self._db.session() as s:
            row = s.exec(select(Secret).where(col(Secret.key) == key)).first()
        if row is None:
            raise NotFoundError(f"secret {key!r} not found")
        return row

    def create(self, key: str, encrypted: str, is_secret: bool) -> Secret:
        row = Secret(key=key, value=encrypted, is_secret=is_secret)
        with self._db.session() as s:
            s.add(row)
            try:
                s.commit()
            except sa.exc.IntegrityError:
                raise ConflictError(
                    f"secret {key!r} already exists; use PUT to change it"
                ) from None
        return row

    def update(self, key: str, encrypted: str | None, is_secret: bool | None) -> Secret:
        values: dict[str, object] = {"updated_at": utcnow()}
        if encrypted is not None:
            values["value"] = encrypted
        if is_secret is not None:
            values["is_secret"] = is_secret
        with self._db.session() as s:
            res = s.execute(sa.update(Secret).where(col(Secret.key) == key).values(**values))
            s.commit()
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFoundError(f"secret {key!r} not found")
        return self.get(key)

    def delete(self, key: str) -> None:
        with self._db.session() as s:
            res = s.execute(sa.delete(Secret).where(col(Secret.key) == key))
            s.commit()
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFoundError(f"secret {key!r} not found")
