"""Every authenticated request asks the database: what one server process changes (logout,
revocation, a disabled account, a new role), another sharing the database refuses at once.

Two AuthServices over two Database handles (two engines, two connection pools, nothing
shared in memory) stand for two server processes on one database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import sqlalchemy as sa
from sqlmodel import col

from fastflow.auth.service import AuthService
from fastflow.auth.tokens import TokenIssuer
from fastflow.errors import AuthError
from fastflow.models import Role
from fastflow.records import ApiToken, User
from fastflow.storage.database import Database
from fastflow.storage.token_store import TokenStore
from fastflow.storage.user_store import UserStore

PASSWORD = "password-of-carol"


@pytest.fixture
def two(db_url: str) -> Iterator[tuple[AuthService, AuthService]]:
    key = TokenIssuer.generate_key()
    dbs = [Database(db_url), Database(db_url)]
    a, b = (AuthService(UserStore(db), TokenIssuer(key, 60), TokenStore(db)) for db in dbs)
    yield a, b
    for db in dbs:
        db.dispose()


def _run(auth: AuthService, statement: sa.Executable) -> None:
    assert auth.token_store is not None
    with auth.token_store._db.session() as s:
        s.execute(statement)
        s.commit()


def test_a_session_ended_on_one_server_is_refused_by_the_other(
    two: tuple[AuthService, AuthService],
) -> None:
    a, b = two
    user = a.create_user("carol", PASSWORD, Role.OPERATOR)
    token, _ = a.login("carol", PASSWORD)
    other, _ = a.login("carol", PASSWORD)
    seen = b.principal(token)
    assert (seen.user.id, seen.role, seen.kind) == (user.id, Role.OPERATOR, "session")
    a.logout(a.principal(token))
    with pytest.raises(AuthError, match="revoked"):
        b.principal(token)
    assert b.principal(other).user.id == user.id  # only that session ended

    a.update_user("carol", role=Role.VIEWER)
    with pytest.raises(AuthError, match="ended"):
        b.principal(other)
    fresh, _ = a.login("carol", PASSWORD)
    assert b.principal(fresh).role is Role.VIEWER
    a.update_user("carol", disabled=True)
    with pytest.raises(AuthError):
        b.principal(fresh)


def test_an_api_token_revoked_or_expired_on_one_server_is_refused_by_the_other(
    two: tuple[AuthService, AuthService],
) -> None:
    a, b = two
    a.create_user("carol", PASSWORD, Role.OPERATOR)
    session = a.principal(a.login("carol", PASSWORD)[0])
    raw, row = a.create_api_token(session, "ci", Role.VIEWER, None)
    seen = b.principal(raw)
    assert (seen.kind, seen.role, seen.token_id) == ("api_token", Role.VIEWER, row.id)
    assert seen.user.username == "carol"
    a.revoke_api_token(session, row.id)
    with pytest.raises(AuthError, match="revoked"):
        b.principal(raw)

    raw, row = a.create_api_token(session, "cd", None, 30)
    assert b.principal(raw).role is Role.OPERATOR
    past = datetime.now(UTC) - timedelta(seconds=1)
    _run(a, sa.update(ApiToken).where(col(ApiToken.id) == row.id).values(expires_at=past))
    with pytest.raises(AuthError, match="expired"):
        b.principal(raw)

    raw, _ = a.create_api_token(session, "again", None, None)
    assert b.principal(raw).role is Role.OPERATOR
    a.update_user("carol", disabled=True)
    with pytest.raises(AuthError):
        b.principal(raw)


def test_credentials_of_a_deleted_account_are_refused(
    two: tuple[AuthService, AuthService],
) -> None:
    a, b = two
    user = a.create_user("carol", PASSWORD, Role.ADMIN)
    token, _ = a.login("carol", PASSWORD)
    raw, _ = a.create_api_token(a.principal(token), "ci", None, None)
    _run(a, sa.delete(User).where(col(User.id) == user.id))
    for credential in (token, raw):
        with pytest.raises(AuthError, match="invalid token"):
            b.principal(credential)


def test_the_principal_carries_the_account_as_stored(
    two: tuple[AuthService, AuthService],
) -> None:
    a, b = two
    created = a.create_user("carol", PASSWORD, Role.OPERATOR)
    a.update_user("carol", role=Role.ADMIN)
    token, _ = a.login("carol", PASSWORD)
    stored = b.users.get(created.id)
    raw, _ = a.create_api_token(b.principal(token), "x", None, None)
    for principal in (b.principal(token), b.principal(raw)):
        assert principal.user.model_dump() == stored.model_dump()
        assert principal.user.sessions_valid_after is not None
        assert principal.user.sessions_valid_after.tzinfo is not None
        assert principal.user.created_at.tzinfo is not None


@pytest.mark.parametrize(
    "credential",
    ["", "not-a-token", "ff_", "ff_" + "A" * 43, "ff_\x00", "a.b.c", "\x00", "é" * 300],
)
def test_garbage_is_an_auth_error(two: tuple[AuthService, AuthService], credential: str) -> None:
    with pytest.raises(AuthError):
        two[1].principal(credential)


def test_a_token_signed_with_another_key_or_for_no_account_is_refused(
    two: tuple[AuthService, AuthService],
) -> None:
    a, b = two
    user = a.create_user("carol", PASSWORD, Role.ADMIN)
    forged, _ = TokenIssuer(TokenIssuer.generate_key(), 60).issue(user.id)
    with pytest.raises(AuthError, match="invalid token"):
        b.principal(forged)
    nobody, _ = a.tokens.issue("0" * 32)
    with pytest.raises(AuthError, match="invalid token"):
        b.principal(nobody)
    unsigned = jwt.encode({"sub": user.id, "jti": "x", "typ": "access", "exp": 2**40}, None, "none")
    with pytest.raises(AuthError):
        b.principal(unsigned)
