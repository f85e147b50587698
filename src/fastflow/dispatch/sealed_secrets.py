"""A run's secrets sealed for whichever worker claims the run, handed over with the claim.

When the server sends a run to the workers it also puts the run's secrets in Redis, sealed
(Fernet: encrypted and authenticated) with a key derived from the worker token, and bound to
the run's id. The worker's claim is one Redis script: it takes the claim (SET NX) and, only
when that succeeded, removes the sealed secrets and returns them in the claim's answer. So
only the claim holder ever gets them, and it gets them without asking the server over HTTP
while the server is busy; a worker that lost the claim race gets nothing, and so does a
redelivered copy of the message. Redis never holds them in the clear: reading them needs the
worker token too. The hash keeps, in the clear, only what the server's audit log names (the
pipeline, the secrets' keys, and which worker took them); the server logs the hand-over when
the run's first event arrives.

A run whose secrets could not be sealed at sending (a secret its pipeline names is not
stored, ...) has none in Redis: its worker asks the server over HTTP, which answers (or
refuses) as before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken

from fastflow.secrets.service import RunSecrets

# Handing secrets to a machine is worth a line of its own in the server's log.
audit = logging.getLogger("fastflow.audit")

SEALED = "sealed"  # the hash's field with the sealed secrets (removed by the claim)
KEYS = "keys"  # the secrets' keys, comma-separated (not secret: the audit log names them)
PIPELINE = "pipeline"
TAKER = "taker"  # the worker whose claim took the sealed secrets

# KEYS: claim, sealed-secrets hash, cancel. ARGV: worker id, claim TTL in seconds.
# Answer: {0, reason} cancelled before it started (nothing claimed); {1} claimed before;
# {2} claimed, no sealed secrets; {2, sealed} claimed, with the run's sealed secrets.
CLAIM_SCRIPT = """
local cancel = redis.call('GET', KEYS[3])
if cancel then return {0, cancel} end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', tonumber(ARGV[2])) then return {1} end
local sealed = redis.call('HGET', KEYS[2], 'sealed')
if not sealed then return {2} end
redis.call('HDEL', KEYS[2], 'sealed')
redis.call('HSET', KEYS[2], 'taker', ARGV[1])
return {2, sealed}
"""


class SecretSeal:
    """Seals and opens runs' secrets with a key derived from the worker token."""

    def __init__(self, worker_token: str) -> None:
        digest = hmac.new(worker_token.encode(), b"fastflow sealed run secrets", hashlib.sha256)
        self._fernet = Fernet(base64.urlsafe_b64encode(digest.digest()))

    def seal(self, run_id: str, secrets: RunSecrets) -> bytes:
        body = {"run_id": run_id, "env": secrets.env, "secret_keys": sorted(secrets.secret_keys)}
        return self._fernet.encrypt(orjson.dumps(body))

    def open(self, run_id: str, sealed: bytes) -> RunSecrets | None:
        """The secrets sealed for `run_id`, or None when `sealed` is not that (another key,
        another run's, tampered with)."""
        try:
            body: Any = orjson.loads(self._fernet.decrypt(sealed))
        except (InvalidToken, orjson.JSONDecodeError, TypeError, ValueError):
            return None
        if not isinstance(body, dict) or body.get("run_id") != run_id:
            return None
        env = {str(k): str(v) for k, v in body["env"].items()}
        return RunSecrets(env=env, secret_keys=frozenset(body["secret_keys"]) & set(env))


def hash_fields(pipeline: str, sealed: bytes, secrets: RunSecrets) -> dict[str, bytes]:
    """The sealed-secrets hash of a run as the server writes it."""
    keys = ",".join(sorted(secrets.secret_keys))
    return {SEALED: sealed, KEYS: keys.encode(), PIPELINE: pipeline.encode()}


def audit_hand_over(run_id: str, pipeline: str, fields: dict[bytes, bytes]) -> None:
    """Log that a worker's claim took the run's sealed secrets, if it did (`fields`: what is
    left of the run's hash; a worker that asked over HTTP was logged by the route)."""
    taker = fields.get(TAKER.encode())
    if taker is None:
        return
    keys = [k for k in fields.get(KEYS.encode(), b"").decode().split(",") if k]
    audit.info(
        "worker %s fetched the secrets of run %s (%s): %s",
        taker.decode(),
        run_id,
        fields.get(PIPELINE.encode(), pipeline.encode()).decode(),
        ", ".join(keys) or "none",
    )
