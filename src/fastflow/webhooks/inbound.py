"""Inbound hooks: per-target secret tokens, checked as a token or as a GitHub-style signature.

A token is derived, not stored: HMAC-SHA256(server hook key, "<hook id>:<salt>"). The hook key
lives in DATA_DIR/hook_key (0600) or FASTFLOW_HOOK_KEY; the database holds only the salt, so
a copy of the database alone cannot forge a call. A new salt (re-creating the hook) revokes
the old token. Callers send the token (`X-Fastflow-Token`, `Authorization: Bearer`, or
`?token=`), or sign the body like GitHub: `X-Hub-Signature-256: sha256=HMAC(token, body)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping

from fastflow.errors import AuthError, ConflictError, ForbiddenError
from fastflow.records import InboundHook
from fastflow.storage.webhook_store import WebhookStore

SYNC_TARGET = "sync"
_DENIED = "invalid hook token or signature"


def pipeline_target(name: str) -> str:
    return f"pipeline:{name}"


def derive_secret(key: str, purpose: str, prefix: str) -> str:
    mac = hmac.new(key.encode(), purpose.encode(), hashlib.sha256).digest()
    return prefix + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>`: the X-Hub-Signature-256 format."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def generate_key() -> str:
    return secrets.token_urlsafe(32)


# How long a delivery is remembered: a replay within this window starts nothing.
REPLAY_WINDOW = 600.0


class ReplayError(ConflictError):
    """The same delivery came before."""


class InboundHooks:
    def __init__(self, store: WebhookStore, key: str) -> None:
        self.store = store
        self._key = key
        # Deliveries seen recently (key → when), in this process.
        self._seen: dict[str, float] = {}
        self._seen_lock = threading.Lock()

    def remember(self, hook: InboundHook, body: bytes, headers: Mapping[str, str]) -> None:
        """Refuse (409) a delivery this hook took within REPLAY_WINDOW: the same GitHub
        delivery id (`X-GitHub-Delivery`), or the same signed body. Else remember it."""
        delivery = headers.get("x-github-delivery", "").strip()
        if delivery:
            key, what = f"{hook.id}:id:{delivery[:200]}", f"delivery {delivery[:200]!r}"
        elif headers.get("x-hub-signature-256"):
            key = f"{hook.id}:body:{hashlib.sha256(body).hexdigest()}"
            what = "this signed body"
        else:
            return  # a token call without a delivery id: each call is its own (e.g. CI)
        now = time.monotonic()
        with self._seen_lock:
            for old, at in list(self._seen.items()):
                if now - at > REPLAY_WINDOW:
                    del self._seen[old]
            if key in self._seen:
                raise ReplayError(f"{what} was received before; a replayed delivery starts nothing")
            self._seen[key] = now

    def token_of(self, hook: InboundHook) -> str:
        return derive_secret(self._key, f"in:{hook.id}:{hook.salt}", "ffh_")

    def create(self, target: str, created_by: str | None) -> tuple[InboundHook, str]:
        """Create the hook of `target` or rotate its token; returns the hook and its token."""
        hook = self.store.put_hook(target, secrets.token_hex(16), created_by)
        return hook, self.token_of(hook)

    def verify(
        self,
        target: str,
        body: bytes,
        headers: Mapping[str, str],
        query_token: str | None = None,
    ) -> InboundHook:
        """The hook when the call carries its token or a valid signature.

        Nothing given answers 401; a wrong token, a forged signature or a target without a
        hook answer 403 with the same message, so targets cannot be probed.
        """
        sig = headers.get("x-hub-signature-256")
        token = headers.get("x-fastflow-token") or query_token
        auth = headers.get("authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        if not sig and not token:
            raise AuthError(
                "this hook needs its token ('X-Fastflow-Token' header) or a body signature "
                "('X-Hub-Signature-256: sha256=…')"
            )
        hook = self.store.hook(target)
        if hook is None:
            raise ForbiddenError(_DENIED)
        expected = self.token_of(hook)
        if sig:
            ok = hmac.compare_digest(sig.strip().encode(), signature(expected, body).encode())
        else:
            ok = hmac.compare_digest((token or "").encode(), expected.encode())
        if not ok:
            raise ForbiddenError(_DENIED)
        self.store.touch_hook(hook.id)
        return hook

    def all(self) -> list[InboundHook]:
        return self.store.hooks()

    def delete(self, hook_id: str) -> None:
        self.store.delete_hook(hook_id)
