"""The parts of SSO that need no provider: the policy (domains, names, roles) and the ID token
checks, with a key made here standing in for the provider's (the real provider's tokens are
in tests/integration/test_sso.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from fastflow.auth.oidc_client import GOOGLE, OidcConfig, verify_id_token
from fastflow.auth.sso_errors import SsoFlowError, SsoRefusedError
from fastflow.auth.sso_policy import SsoPolicy, words
from fastflow.models import Role

ISSUER = "https://idp.example.com"
CONFIG = OidcConfig(ISSUER, "fastflow", "secret", "openid", "https://ff.example.com/cb")
NONCE = "nonce-0123456789"


def test_words_split_on_commas_and_spaces() -> None:
    assert words(" a, b  c,,d ") == {"a", "b", "c", "d"}
    assert words("") == frozenset()


def test_roles_from_a_groups_claim_plain_or_nested() -> None:
    policy = SsoPolicy(
        role_claim="groups",
        admin_groups=frozenset({"ff-admins"}),
        operator_groups=frozenset({"ff-ops"}),
        default_role=Role.OPERATOR,
    )
    assert policy.role_for({"groups": ["x", "ff-admins", "ff-ops"]}) is Role.ADMIN
    assert policy.role_for({"groups": "ff-ops"}) is Role.OPERATOR
    assert policy.role_for({"groups": ["FF-ADMINS"]}) is Role.OPERATOR  # exact names
    assert policy.role_for({}) is Role.OPERATOR  # the default role
    assert policy.role_for({"groups": [1, None, {"x": 1}]}) is Role.OPERATOR
    keycloak = SsoPolicy(role_claim="realm_access.roles", admin_groups=frozenset({"admin"}))
    assert keycloak.role_for({"realm_access": {"roles": ["admin"]}}) is Role.ADMIN
    assert keycloak.role_for({"realm_access": "odd"}) is Role.VIEWER
    # A claim named with dots (namespaced claims) is found by its exact name first.
    dotted = SsoPolicy(role_claim="https://ff.example/roles", admin_groups=frozenset({"a"}))
    assert dotted.role_for({"https://ff.example/roles": ["a"]}) is Role.ADMIN
    # Without a role claim the role is not the provider's business: kept as it is.
    assert SsoPolicy().role_for({"groups": ["ff-admins"]}) is None


def test_allowed_domains_need_a_verified_address_of_the_domain() -> None:
    policy = SsoPolicy(allowed_domains=frozenset({"example.com"}))
    policy.check_domain({"email": "a@Example.COM"})
    policy.check_domain({"email": "a@example.com", "email_verified": True})
    for claims, says in (
        ({"email": "a@example.com.evil.org"}, "example.com.evil.org may not sign in"),
        ({"email": "a@sub.example.com"}, "sub.example.com may not sign in"),
        ({"email": "a@example.com", "email_verified": False}, "is not verified"),
        ({}, "did not share your e-mail address"),
        ({"email": ["a@example.com"]}, "did not share your e-mail address"),
    ):
        with pytest.raises(SsoRefusedError, match=says):
            policy.check_domain(claims)
    SsoPolicy().check_domain({})  # no list: everyone the provider signs in


def test_names_come_from_preferred_username_then_email() -> None:
    policy = SsoPolicy()
    assert policy.username_for({"preferred_username": " ann ", "email": "x@y"}) == "ann"
    assert policy.username_for({"preferred_username": "a/b", "email": "ann@y.org"}) == "ann@y.org"
    assert policy.username_for({"preferred_username": "\u200b", "email": "\uff41nn@y"}) == "ann@y"
    with pytest.raises(SsoRefusedError, match="neither a usable user name"):
        policy.username_for({"preferred_username": "", "email": 5})


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1"})


def token(key: RSAKey, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "u1",
        "aud": "fastflow",
        "exp": now + 300,
        "iat": now,
        "nonce": NONCE,
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)


def verify(raw: str, key: RSAKey, issuer: str = ISSUER) -> dict[str, Any]:
    keys = KeySet.import_key_set({"keys": [key.as_dict(private=False)]})
    return verify_id_token(raw, keys, ["RS256"], issuer, CONFIG, NONCE)


def test_a_good_id_token_passes(key: RSAKey) -> None:
    assert verify(token(key), key)["sub"] == "u1"
    # Google's tokens may say "accounts.google.com" for its issuer "https://accounts.google.com".
    assert verify(token(key, iss="accounts.google.com"), key, GOOGLE)["sub"] == "u1"
    with pytest.raises(SsoFlowError, match="another identity provider"):
        verify(token(key, iss="accounts.google.com"), key)
    assert verify(token(key, aud=["fastflow", "other"], azp="fastflow"), key)["sub"] == "u1"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"iss": "https://evil.example.com"}, "issued by another identity provider"),
        ({"aud": "someone-else"}, "issued for another application"),
        ({"aud": ["fastflow", "other"]}, "lacks the claim"),  # azp needed, missing
        ({"aud": ["fastflow", "other"], "azp": "other"}, "issued for another application"),
        ({"exp": int(time.time()) - 3600}, "has expired"),
        ({"iat": int(time.time()) + 3600}, "issued in the future"),
        ({"nonce": "another-nonce"}, "its nonce differs"),
        ({"nonce": None}, "lacks the claim"),
        ({"sub": None}, "lacks the claim"),
        ({"exp": None}, "lacks the claim"),
    ],
)
def test_bad_claims_are_refused_with_a_sentence(
    key: RSAKey, changes: dict[str, Any], says: str
) -> None:
    with pytest.raises(SsoFlowError, match=says):
        verify(token(key, **changes), key)


def test_only_the_providers_keys_and_algorithms_count(key: RSAKey) -> None:
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    with pytest.raises(SsoFlowError, match="signature does not verify"):
        verify(token(other), key)
    shared = OctKey.import_key("a-shared-secret-long-enough-for-hs256")
    hs = jwt.encode({"alg": "HS256"}, {"sub": "u1"}, shared)
    with pytest.raises(SsoFlowError, match="algorithm"):
        verify(hs, key)
    with pytest.raises(SsoFlowError, match="cannot be read"):
        verify("not-a-token", key)
