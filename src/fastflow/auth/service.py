"""AuthService: login, sessions and API tokens, users, and the first admin."""

from __future__ import annotations

import logging
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastflow.auth import api_tokens
from fastflow.auth.passwords import hash_password, verify_password
from fastflow.auth.throttle import LoginThrottle, TooManyAttemptsError
from fastflow.auth.tokens import TokenIssuer
from fastflow.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from fastflow.models import Role
from fastflow.records import ApiToken, User
from fastflow.storage.token_store import TokenStore
from fastflow.storage.user_store import UserStore

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8
# Writing last-used on every request would turn each read into a write; once a minute is enough.
_TOUCH_INTERVAL = timedelta(minutes=1)


LOCAL_LOGIN_OFF = (
    "password login is turned off on this server: sign in with SSO, or use an API token"
)


class LocalLoginDisabledError(ForbiddenError):
    """A password login while FASTFLOW_LOCAL_LOGIN=false (and not the break-glass admin)."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, and through what: a session (JWT) or an API token."""

    user: User
    role: Role
    kind: str  # "session" | "api_token"
    jti: str | None = None
    expires_at: datetime | None = None
    csrf: str | None = None
    token_id: str | None = None


class AuthService:
    def __init__(
        self,
        users: UserStore,
        tokens: TokenIssuer,
        token_store: TokenStore | None = None,
        throttle: LoginThrottle | None = None,
        local_login: bool = True,
    ) -> None:
        self.users = users
        self.tokens = tokens
        self.token_store = token_store
        self.throttle = throttle
        # False: only the break-glass admin's password still works (SSO and API tokens do).
        self.local_login = local_login

    def login(self, username: str, password: str, address: str | None = None) -> tuple[str, User]:
        """A bearer token for valid credentials, else AuthError (same answer for any cause)."""
        if self.throttle is not None:
            try:
                self.throttle.check(username, address)
            except TooManyAttemptsError:
                log.warning("login throttled for user %r from %s", username, address)
                raise
        user = self.users.by_username(username)
        ok = verify_password(password, user.password_hash if user else None)
        if not self.local_login and not (ok and user is not None and user.break_glass):
            # One answer whatever the cause: it does not tell who the break-glass admin is.
            log.warning(
                "password login refused for user %r from %s (turned off)", username, address
            )
            if self.throttle is not None:
                self.throttle.failed(username, address)
            raise LocalLoginDisabledError(LOCAL_LOGIN_OFF)
        if user is None or not ok or user.disabled:
            log.warning("login failed for user %r from %s", username, address)
            if self.throttle is not None:
                self.throttle.failed(username, address)
            raise AuthError("invalid username or password")
        if self.throttle is not None:
            self.throttle.succeeded(username)
        if not self.local_login:
            log.warning("break-glass admin %r logged in with a password from %s", username, address)
        return self.session_for(user), user

    def session_for(self, user: User) -> str:
        """A new session (bearer token) for a user who has proved who they are."""
        self.users.touch_login(user.id)
        token, _ = self.tokens.issue(user.id)
        return token

    def _active_user(self, user_id: str) -> User:
        try:
            user = self.users.get(user_id)
        except NotFoundError:
            raise AuthError("invalid token") from None
        return self._usable(user)

    @staticmethod
    def _usable(user: User | None) -> User:
        if user is None:
            raise AuthError("invalid token")
        if user.disabled:
            raise AuthError("this account is disabled")
        return user

    def principal(self, raw: str) -> Principal:
        """Resolve a JWT or an API token to whom it acts as; AuthError when it does not."""
        if api_tokens.looks_like_api_token(raw):
            return self._api_token_principal(raw)
        claims = self.tokens.verify(raw)
        if self.token_store is None:
            user = self._active_user(claims.user_id)
        else:
            found, revoked = self.token_store.session_user(claims.jti, claims.user_id)
            if revoked:
                raise AuthError("this token was revoked (logged out); log in again")
            user = self._usable(found)
        if _before(claims.issued_at, user.sessions_valid_after):
            raise AuthError(_ENDED)
        return Principal(
            user, Role(user.role), "session", claims.jti, claims.expires_at, claims.csrf
        )

    def _api_token_principal(self, raw: str) -> Principal:
        if self.token_store is None:
            raise AuthError("invalid token")
        found = self.token_store.token_user(api_tokens.digest(raw))
        now = datetime.now(UTC)
        if found is None or found[0].revoked_at is not None:
            raise AuthError("invalid or revoked API token")
        row, owner = found
        if row.expires_at is not None and row.expires_at <= now:
            raise AuthError("this API token has expired")
        user = self._usable(owner)
        if _before(row.created_at, user.sessions_valid_after):
            raise AuthError(_ENDED)
        # A token never has more rights than its owner has now (roles can be lowered).
        role = min(Role(row.role), Role(user.role), key=_rank)
        if row.last_used_at is None or now - row.last_used_at >= _TOUCH_INTERVAL:
            self.token_store.touch(row.id, now)
        return Principal(user, role, "api_token", token_id=row.id, expires_at=row.expires_at)

    def authenticate(self, token: str) -> User:
        """The user behind a token, with the role it grants (an API token's may be lower)."""
        p = self.principal(token)
        return p.user if p.role.value == p.user.role else p.user.model_copy(update={"role": p.role})

    def logout(self, principal: Principal) -> None:
        if principal.kind != "session" or principal.jti is None or principal.expires_at is None:
            raise InvalidInputError(
                "logout ends a signed-in session; revoke an API token with "
                "DELETE /api/auth/tokens/{id}"
            )
        assert self.token_store is not None
        self.token_store.revoke_session(principal.jti, principal.expires_at)
        log.info("user %r logged out", principal.user.username)

    def create_api_token(
        self, principal: Principal, name: str, role: Role | None, expires_days: int | None
    ) -> tuple[str, ApiToken]:
        """A new token for the caller; the clear text is returned here and never again."""
        if principal.kind != "session":
            # A leaked token must not be able to mint more tokens.
            raise ForbiddenError("API tokens can only be created from a signed-in session")
        assert self.token_store is not None
        wanted = role or principal.role
        if not principal.role.allows(wanted):
            raise ForbiddenError(f"you cannot create a token with more rights ({wanted.value})")
        raw = api_tokens.generate()
        expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
        row = ApiToken(
            user_id=principal.user.id,
            name=name,
            role=wanted.value,
            token_hash=api_tokens.digest(raw),
            prefix=api_tokens.display_prefix(raw),
            expires_at=expires,
        )
        self.token_store.add(row)
        log.info("user %r created API token %s (%s)", principal.user.username, row.id, name)
        return raw, row

    def list_api_tokens(self, principal: Principal, everyone: bool) -> list[tuple[ApiToken, str]]:
        assert self.token_store is not None
        if everyone and principal.role is not Role.ADMIN:
            raise ForbiddenError("listing the tokens of other users needs the admin role")
        return self.token_store.listing(None if everyone else principal.user.id)

    def revoke_api_token(self, principal: Principal, token_id: str) -> None:
        assert self.token_store is not None
        row = self.token_store.get(token_id)
        if row.user_id != principal.user.id and principal.role is not Role.ADMIN:
            # Same answer as a missing token: do not reveal other users' token ids.
            raise NotFoundError(f"API token {token_id!r} not found")
        self.token_store.revoke(token_id)
        log.info("user %r revoked API token %s", principal.user.username, token_id)

    def create_user(self, username: str, password: str, role: Role) -> User:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInputError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
        return self.users.create(username, hash_password(password), role.value)

    def all_users(self) -> list[User]:
        return self.users.all()

    def update_user(
        self, username: str, role: Role | None = None, disabled: bool | None = None
    ) -> User:
        return self.users.update(username, role=role, disabled=disabled)

    def set_password(self, username: str, password: str) -> None:
        self.users.set_password(username, hash_password(password))

    def change_user(
        self, acting: User, username: str, role: Role | None = None, disabled: bool | None = None
    ) -> User:
        """An admin changes a user's role or disables them; never their own (ConflictError):
        the last admin cannot lock everyone out by a slip."""
        if username.casefold() == acting.username.casefold() and (
            disabled or (role is not None and role.value != acting.role)
        ):
            raise ConflictError("you cannot disable or demote yourself; ask another admin")
        return self.update_user(username, role=role, disabled=disabled)

    def reset_password(self, username: str, password: str) -> None:
        """An admin sets a new password; the user's sessions and API tokens end."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInputError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
        self.set_password(username, password)

    def announce_login_methods(self) -> None:
        """With password login off, say at start whether anyone can still get in without SSO."""
        if self.local_login:
            return
        keys = [u.username for u in self.users.all() if u.break_glass and not u.disabled]
        if keys:
            log.info("password login is off; break-glass admin: %r", keys[0])
        else:
            log.warning(
                "password login is off (FASTFLOW_LOCAL_LOGIN=false) and there is no break-glass "
                "admin; name one with 'fastflow user break-glass NAME' (see docs/sso.md)"
            )

    def ensure_admin(self, username: str, password: str | None) -> None:
        """First start: create the admin from settings, or generate a password and print it."""
        self.announce_login_methods()
        if self.users.count() > 0:
            return
        generated = password is None
        if password is None:
            password = secrets.token_urlsafe(18)
        self.users.create(username, hash_password(password), Role.ADMIN.value)
        if generated:
            # Printed once, to the console of whoever started the server; never logged again.
            print(
                f"\n  fastflow: created admin user {username!r} with password: {password}\n"
                "  (shown only this once; change it with 'fastflow user create "
                f"{username} --role admin --reset')\n",
                file=sys.stderr,
                flush=True,
            )
        else:
            log.info("created admin user %r from FASTFLOW_ADMIN_USER/PASSWORD", username)


def _rank(role: Role) -> int:
    return [Role.VIEWER, Role.OPERATOR, Role.ADMIN].index(role)


_ENDED = (
    "this session or token ended: the account's password, role or status changed since; "
    "log in again (or make a new API token)"
)


def _before(made: datetime | None, valid_after: datetime | None) -> bool:
    """Made before the account's last change (which ends what was made before it)."""
    if valid_after is None:
        return False
    if made is None:
        return True
    if made.tzinfo is None:
        made = made.replace(tzinfo=UTC)
    if valid_after.tzinfo is None:
        valid_after = valid_after.replace(tzinfo=UTC)
    return made < valid_after
