"""SSO sign-in through an OpenID Connect provider: start it, finish it, and hand out the same
session a password login gives.

`begin` makes a fresh state, nonce and PKCE verifier and returns them sealed (HMAC-signed,
ten minutes) for a cookie on the browser that started, with the provider's URL. `finish`
accepts the provider's answer only in that browser, once, with the state it was sent, and only
with an ID token carrying its nonce. The account is found by the provider's (issuer, subject)
and never by name: a first sign-in whose name is taken by another account is refused, not
merged (docs/sso.md says how an administrator links the two).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import shlex
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from authlib.common.security import generate_token

from fastflow.auth.oidc_client import OidcClient
from fastflow.auth.redirects import safe_next
from fastflow.auth.service import AuthService
from fastflow.auth.sso_errors import SsoFlowError, SsoNameTakenError, SsoRefusedError
from fastflow.auth.sso_policy import SsoPolicy
from fastflow.records import User

log = logging.getLogger(__name__)

COOKIE = "fastflow_oidc"
COOKIE_PATH = "/auth/oidc"
LIFETIME_SECONDS = 600
_ALGORITHM = "HS256"
_KIND = "oidc-login"
_MAX_USED = 10_000
_RESTART = "start again from the login page"
# What a provider's `error` parameter means, in words (its own description is never shown:
# anyone can put text in a link to the callback).
_PROVIDER_ERRORS = {
    "access_denied": "the sign-in was cancelled or refused at your identity provider",
    "login_required": "your identity provider asks you to sign in first",
    "consent_required": "your identity provider needs your consent first",
    "interaction_required": "your identity provider needs you to complete its sign-in",
    "temporarily_unavailable": "your identity provider is temporarily unavailable",
}


@dataclass(frozen=True)
class LoginStart:
    """Send the browser to `url`, with `cookie` set (path COOKIE_PATH, HttpOnly)."""

    url: str
    cookie: str


@dataclass(frozen=True)
class LoginDone:
    token: str
    user: User
    next: str


class _UsedStates:
    """States already answered, until they would have expired anyway (a replayed answer)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._until: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, state: str, until: float) -> bool:
        now = self._clock()
        with self._lock:
            while self._until and (
                next(iter(self._until.values())) < now or len(self._until) >= _MAX_USED
            ):
                self._until.popitem(last=False)
            if state in self._until:
                return False
            self._until[state] = until
            return True


class OidcService:
    def __init__(
        self,
        client: OidcClient,
        policy: SsoPolicy,
        auth: AuthService,
        sealing_key: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.policy = policy
        self.auth = auth
        self._key = sealing_key
        self._clock = clock
        self._used = _UsedStates(clock)

    @property
    def issuer(self) -> str:
        return self.client.config.issuer

    async def begin(self, next_path: str | None) -> LoginStart:
        """The provider's sign-in URL and the sealed state for this browser's cookie."""
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        url = await self.client.authorization_url(state, nonce, verifier)
        sealed = {
            "typ": _KIND,
            "state": state,
            "nonce": nonce,
            "verifier": verifier,
            "next": safe_next(next_path),
            "exp": int(self._clock()) + LIFETIME_SECONDS,
        }
        return LoginStart(url, jwt.encode(sealed, self._key, algorithm=_ALGORITHM))

    async def finish(self, answer: Mapping[str, str], cookie: str | None) -> LoginDone:
        """The session for the provider's answer (the callback's query), or an SsoError."""
        error = answer.get("error")
        if error:
            log.warning(
                "SSO: provider answered error %r (%s)", error[:60], answer.get("error_description")
            )
            said = _PROVIDER_ERRORS.get(error, "your identity provider refused the sign-in")
            raise SsoRefusedError(f"{said}; {_RESTART}")
        pending = self._unseal(cookie)
        state = answer.get("state") or ""
        if not hmac.compare_digest(state.encode(), str(pending["state"]).encode()):
            raise SsoFlowError(
                "this sign-in answer does not belong to the sign-in this browser started "
                f"(its state differs); {_RESTART}"
            )
        if not self._used.first_use(state, float(pending["exp"])):
            raise SsoFlowError(f"this sign-in answer was already used; {_RESTART}")
        issuer = answer.get("iss")
        if issuer is not None and issuer.rstrip("/") != self.issuer.rstrip("/"):
            # RFC 9207: an answer from another provider (mix-up attack).
            raise SsoFlowError(f"this sign-in answer comes from another provider; {_RESTART}")
        code = answer.get("code")
        if not code:
            raise SsoFlowError(f"the identity provider's answer has no sign-in code; {_RESTART}")
        claims = await self.client.exchange(code, str(pending["verifier"]), str(pending["nonce"]))
        user = await self._account(claims)
        token = self.auth.session_for(user)
        log.info("user %r signed in with SSO", user.username)
        return LoginDone(token, user, safe_next(str(pending["next"])))

    def _unseal(self, cookie: str | None) -> dict[str, Any]:
        if not cookie:
            raise SsoFlowError(
                "no SSO sign-in was started in this browser (or cookies are blocked); " + _RESTART
            )
        try:
            pending: dict[str, Any] = jwt.decode(
                cookie,
                self._key,
                algorithms=[_ALGORITHM],
                options={"require": ["exp", "state", "nonce", "verifier"]},
            )
        except jwt.ExpiredSignatureError:
            raise SsoFlowError(f"the sign-in took longer than 10 minutes; {_RESTART}") from None
        except jwt.InvalidTokenError:
            raise SsoFlowError(f"this browser's sign-in record is not valid; {_RESTART}") from None
        if pending.get("typ") != _KIND:
            raise SsoFlowError(f"this browser's sign-in record is not valid; {_RESTART}")
        return pending

    async def _account(self, claims: dict[str, Any]) -> User:
        """The account of a verified identity: found, or made on the first sign-in."""
        return await asyncio.to_thread(self._account_sync, claims)

    def _account_sync(self, claims: dict[str, Any]) -> User:
        # The configured issuer: the token's `iss` was checked to be it (up to a final "/").
        issuer, subject = self.issuer, str(claims["sub"])
        self.policy.check_domain(claims)
        role = self.policy.role_for(claims)
        users = self.auth.users
        user = users.by_sso(issuer, subject)
        if user is None:
            name = self.policy.username_for(claims)
            taken = users.by_username(name)
            if taken is not None:
                log.warning(
                    "SSO: first sign-in of %s (issuer %s) refused: the name %r belongs to "
                    "another account; link them with: fastflow user link-sso %s --subject %s",
                    subject, issuer, taken.username, shlex.quote(taken.username),
                    shlex.quote(subject),
                )  # fmt: skip
                raise SsoNameTakenError(
                    f"an account named {taken.username!r} already exists on this server and is "
                    "not linked to your SSO identity, so it was not taken over; ask an "
                    "administrator to link the two"
                )
            user = users.create_sso(name, (role or self.policy.default_role).value, issuer, subject)
            log.info("SSO: created user %r (%s) for %s", user.username, user.role, subject)
            return user
        if user.disabled:
            log.warning("SSO: disabled user %r refused", user.username)
            raise SsoRefusedError(
                "your account on this server is disabled; ask an administrator to enable it"
            )
        if role is not None and role.value != user.role:
            log.info("SSO: role of %r is now %s (was %s)", user.username, role.value, user.role)
            user = users.update(user.username, role=role)
        return user
