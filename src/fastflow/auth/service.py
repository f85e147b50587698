"""AuthService: login, token verification, users, and the first admin."""

from __future__ import annotations

import logging
import secrets
import sys

from fastflow.auth.passwords import hash_password, verify_password
from fastflow.auth.tokens import TokenIssuer
from fastflow.errors import AuthError, InvalidInputError
from fastflow.models import Role
from fastflow.storage.tables import User
from fastflow.storage.user_store import UserStore

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8


class AuthService:
    def __init__(self, users: UserStore, tokens: TokenIssuer) -> None:
        self.users = users
        self.tokens = tokens

    def login(self, username: str, password: str) -> tuple[str, User]:
        """A bearer token for valid credentials, else AuthError (same answer for any cause)."""
        user = self.users.by_username(username)
        ok = verify_password(password, user.password_hash if user else None)
        if user is None or not ok or user.disabled:
            log.warning("login failed for user %r", username)
            raise AuthError("invalid username or password")
        self.users.touch_login(user.id)
        token, _ = self.tokens.issue(user.id)
        return token, user

    def authenticate(self, token: str) -> User:
        claims = self.tokens.verify(token)
        try:
            user = self.users.get(claims.user_id)
        except Exception:
            raise AuthError("invalid token") from None
        if user.disabled:
            raise AuthError("this account is disabled")
        return user

    def create_user(self, username: str, password: str, role: Role) -> User:
        if not username.strip() or len(username) > 150:
            raise InvalidInputError("username must be 1-150 characters")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInputError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
        return self.users.create(username, hash_password(password), role.value)

    def ensure_admin(self, username: str, password: str | None) -> None:
        """First start: create the admin from settings, or generate a password and print it."""
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
