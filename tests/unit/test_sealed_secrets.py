"""A run's secrets sealed for its claim holder: only the worker token opens them, and only
for the run they were sealed for."""

from __future__ import annotations

from fastflow.dispatch.sealed_secrets import KEYS, PIPELINE, SEALED, SecretSeal, hash_fields
from fastflow.secrets.service import RunSecrets

TOKEN = "worker-token-" + "t" * 30
FOUND = RunSecrets(
    env={"API_KEY": "s3cr3t-value", "REGION": "eu"}, secret_keys=frozenset({"API_KEY"})
)


def test_the_claim_holder_opens_what_the_server_sealed() -> None:
    sealed = SecretSeal(TOKEN).seal("abc123", FOUND)
    assert b"s3cr3t-value" not in sealed and b"API_KEY" not in sealed
    assert SecretSeal(TOKEN).open("abc123", sealed) == FOUND


def test_sealed_secrets_open_for_their_own_run_and_token_only() -> None:
    sealed = SecretSeal(TOKEN).seal("abc123", FOUND)
    assert SecretSeal(TOKEN).open("def456", sealed) is None  # moved to another run's key
    assert SecretSeal("another-token-" + "u" * 30).open("abc123", sealed) is None
    tampered = sealed[:-8] + (b"A" * 8 if not sealed.endswith(b"A" * 8) else b"B" * 8)
    assert SecretSeal(TOKEN).open("abc123", tampered) is None
    assert SecretSeal(TOKEN).open("abc123", b"not sealed at all") is None


def test_the_hash_names_the_secrets_but_holds_their_values_sealed_only() -> None:
    sealed = SecretSeal(TOKEN).seal("abc123", FOUND)
    fields = hash_fields("print_secret", sealed, FOUND)
    assert fields == {SEALED: sealed, KEYS: b"API_KEY", PIPELINE: b"print_secret"}
    assert not any(b"s3cr3t-value" in v for v in fields.values())
