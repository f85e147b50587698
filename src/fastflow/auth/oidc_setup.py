"""SSO from the settings: the OpenID Connect client, the policy and the service, or None when
FASTFLOW_OIDC_ISSUER is not set. Settings that cannot work are a ConfigError at start."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastflow.auth.oidc import OidcService
from fastflow.auth.oidc_client import OidcClient, OidcConfig
from fastflow.auth.service import AuthService
from fastflow.auth.sso_policy import SsoPolicy, words
from fastflow.auth.tokens import TokenIssuer
from fastflow.errors import ConfigError
from fastflow.settings import Settings

__all__ = ["OidcService", "oidc_from_settings"]


def oidc_from_settings(
    settings: Settings, auth: AuthService, tokens: TokenIssuer
) -> OidcService | None:
    """SSO when FASTFLOW_OIDC_ISSUER is set (with a client id); nothing is fetched until used."""
    if not settings.oidc_issuer:
        return None
    if not settings.oidc_client_id:
        raise ConfigError("FASTFLOW_OIDC_ISSUER is set: FASTFLOW_OIDC_CLIENT_ID is needed too")
    issuer = settings.oidc_issuer.strip().rstrip("/")
    parts = urlsplit(issuer)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ConfigError(
            f"FASTFLOW_OIDC_ISSUER must be an https:// URL (got {settings.oidc_issuer!r})"
        )
    if "openid" not in words(settings.oidc_scopes):
        raise ConfigError("FASTFLOW_OIDC_SCOPES must include 'openid'")
    config = OidcConfig(
        issuer=issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret or None,
        scopes=" ".join(sorted(words(settings.oidc_scopes), key=settings.oidc_scopes.find)),
        redirect_uri=settings.public_url.rstrip("/") + "/auth/oidc/callback",
    )
    policy = SsoPolicy(
        role_claim=settings.oidc_role_claim or None,
        admin_groups=words(settings.oidc_admin_groups),
        operator_groups=words(settings.oidc_operator_groups),
        default_role=settings.oidc_default_role,
        allowed_domains=frozenset(
            d.lower().lstrip("@") for d in words(settings.oidc_allowed_domains)
        ),
    )
    return OidcService(OidcClient(config), policy, auth, tokens.derive_key("oidc-login"))
