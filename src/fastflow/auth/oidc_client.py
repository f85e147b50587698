"""The relying party's side of OpenID Connect: discovery, the authorization URL with PKCE, the
code exchange, and an ID token verified against the provider's keys (Authlib and joserfc).

Everything the provider says is checked before it is believed: the discovery document must
name the configured issuer, the ID token must be signed by one of the provider's keys with an
algorithm it announced, and carry our `aud`, its `iss`, a live `exp` and this sign-in's `nonce`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from fastflow.auth.sso_errors import ProviderUnavailableError, SsoFlowError

log = logging.getLogger(__name__)

DISCOVERY_PATH = "/.well-known/openid-configuration"
LEEWAY_SECONDS = 60  # clock skew between this server and the provider
METADATA_TTL = 3600.0
GOOGLE = "https://accounts.google.com"
_REQUIRED = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: str
    redirect_uri: str
    timeout: float = 10.0


class OidcClient:
    """One provider, its discovery document and keys cached (keys refreshed on a new key id)."""

    def __init__(
        self,
        config: OidcConfig,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._transport = transport
        self._clock = clock
        self._metadata: dict[str, Any] | None = None
        self._fetched_at = 0.0
        self._keys: KeySet | None = None

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.config.timeout, transport=self._transport)

    async def _get(self, url: str, what: str, headers: dict[str, str] | None = None) -> Any:
        try:
            async with self._http() as http:
                response = await http.get(url, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _unreachable(self.config.issuer, exc) from None
        if response.status_code != 200:
            raise ProviderUnavailableError(
                f"the identity provider answered {response.status_code} for its {what}; "
                "try again later, or ask an administrator to check the SSO settings"
            )
        try:
            return response.json()
        except ValueError:
            raise ProviderUnavailableError(
                f"the identity provider's {what} is not JSON; check FASTFLOW_OIDC_ISSUER"
            ) from None

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached for an hour)."""
        if self._metadata is not None and self._clock() - self._fetched_at < METADATA_TTL:
            return self._metadata
        url = self.config.issuer.rstrip("/") + DISCOVERY_PATH
        doc = await self._get(url, "discovery document")
        if not isinstance(doc, dict):
            raise ProviderUnavailableError(
                "the identity provider's discovery document is not an object"
            )
        missing = [k for k in _REQUIRED if not doc.get(k)]
        if missing:
            raise ProviderUnavailableError(
                f"the identity provider's discovery document lacks {', '.join(missing)}"
            )
        if str(doc["issuer"]).rstrip("/") != self.config.issuer.rstrip("/"):
            # The OpenID Connect discovery rules: a document naming another issuer is not used.
            raise ProviderUnavailableError(
                f"the discovery document at {url} names the issuer {doc['issuer']!r}, not "
                f"{self.config.issuer!r}; set FASTFLOW_OIDC_ISSUER to the provider's issuer"
            )
        metadata: dict[str, Any] = doc
        self._metadata, self._fetched_at = metadata, self._clock()
        return metadata

    async def authorization_url(self, state: str, nonce: str, verifier: str) -> str:
        """Where the browser goes to sign in: code flow with PKCE (S256), state and nonce."""
        meta = await self.metadata()
        return str(
            prepare_grant_uri(
                meta["authorization_endpoint"],
                self.config.client_id,
                "code",
                redirect_uri=self.config.redirect_uri,
                scope=self.config.scopes,
                state=state,
                nonce=nonce,
                code_challenge=create_s256_code_challenge(verifier),
                code_challenge_method="S256",
            )
        )

    async def exchange(self, code: str, verifier: str, nonce: str) -> dict[str, Any]:
        """The verified claims of the person who signed in (ID token, plus userinfo)."""
        meta = await self.metadata()
        token = await self._token(meta, code, verifier)
        raw = token.get("id_token")
        if not isinstance(raw, str):
            raise SsoFlowError(
                "the identity provider sent no ID token; 'openid' must be among "
                "FASTFLOW_OIDC_SCOPES"
            )
        access = token.get("access_token")
        access_token = access if isinstance(access, str) else None
        algorithms = _algorithms(meta)
        try:
            claims = verify_id_token(
                raw, await self._key_set(meta), algorithms, meta["issuer"], self.config, nonce,
                access_token,
            )  # fmt: skip
        except InvalidKeyIdError:
            # A key id we do not know yet: the provider may have rotated its keys.
            claims = verify_id_token(
                raw, await self._key_set(meta, fresh=True), algorithms, meta["issuer"],
                self.config, nonce, access_token,
            )  # fmt: skip
        extra = {}
        if access_token and meta.get("userinfo_endpoint"):
            extra = await self._userinfo(str(meta["userinfo_endpoint"]), access_token)
        if extra:
            if extra.get("sub") != claims["sub"]:
                raise SsoFlowError(
                    "the identity provider's profile answer belongs to another person than "
                    "the ID token; sign-in refused"
                )
            # The signed ID token wins where both name a claim.
            claims = {**extra, **claims}
        return claims

    async def _token(self, meta: dict[str, Any], code: str, verifier: str) -> dict[str, Any]:
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=self.config.redirect_uri,
            code_verifier=verifier,
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        auth = ClientAuth(
            self.config.client_id, self.config.client_secret, _auth_method(self, meta)
        )
        url, headers, body = auth.prepare("POST", meta["token_endpoint"], headers, body)
        try:
            async with self._http() as http:
                response = await http.post(url, content=body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _unreachable(self.config.issuer, exc) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ProviderUnavailableError(
                f"the identity provider's token endpoint answered {response.status_code} "
                "without JSON; try again later"
            )
        if response.status_code != 200 or "error" in answer:
            error = _code(answer.get("error"))
            log.warning(
                "SSO code exchange refused: %s %s", error, str(answer.get("error_description"))
            )
            if error == "invalid_client":
                raise ProviderUnavailableError(
                    "the identity provider refused this server's client credentials "
                    "(invalid_client); an administrator must check FASTFLOW_OIDC_CLIENT_ID "
                    "and FASTFLOW_OIDC_CLIENT_SECRET"
                )
            if error == "invalid_grant":
                raise SsoFlowError(
                    "the identity provider refused this sign-in answer: it was already used, "
                    "has expired, or was not meant for this server; start again"
                )
            raise SsoFlowError(f"the identity provider refused the sign-in ({error}); start again")
        return answer

    async def _key_set(self, meta: dict[str, Any], fresh: bool = False) -> KeySet:
        if self._keys is None or fresh:
            doc = await self._get(str(meta["jwks_uri"]), "signing keys (JWKS)")
            try:
                self._keys = KeySet.import_key_set(doc)
            except (JoseError, ValueError, TypeError, KeyError):
                raise ProviderUnavailableError(
                    "the identity provider's signing keys (JWKS) cannot be read"
                ) from None
        return self._keys

    async def _userinfo(self, url: str, access_token: str) -> dict[str, Any]:
        try:
            async with self._http() as http:
                response = await http.get(url, headers={"Authorization": f"Bearer {access_token}"})
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _unreachable(self.config.issuer, exc) from None
        if response.status_code != 200:
            raise ProviderUnavailableError(
                f"the identity provider answered {response.status_code} when asked for your "
                "profile (userinfo); try again later"
            )
        if "json" not in response.headers.get("content-type", ""):
            return {}  # a signed userinfo (application/jwt): the ID token's claims suffice
        try:
            info = response.json()
        except ValueError:
            info = None
        if not isinstance(info, dict):
            raise ProviderUnavailableError("the identity provider's profile answer is not JSON")
        return info


def verify_id_token(
    raw: str,
    keys: KeySet,
    algorithms: list[str],
    issuer: str,
    config: OidcConfig,
    nonce: str,
    access_token: str | None = None,
    now: int | None = None,
) -> dict[str, Any]:
    """The ID token's claims once signature, iss, aud, exp, iat, nonce (and at_hash) hold;
    SsoFlowError with a sentence otherwise. InvalidKeyIdError (unknown key id) passes up."""
    try:
        token = jwt.decode(raw, keys, registry=JWSRegistry(algorithms=algorithms))
    except InvalidKeyIdError:
        raise
    except BadSignatureError:
        raise SsoFlowError(
            "the ID token's signature does not verify with the identity provider's keys: it "
            "was altered or not issued by your provider; sign-in refused"
        ) from None
    except (JoseError, ValueError, TypeError) as exc:
        raise SsoFlowError(
            f"the ID token cannot be read or uses an algorithm the identity provider does not "
            f"announce ({type(exc).__name__}); sign-in refused"
        ) from None
    issuers = [issuer]
    if issuer == GOOGLE:
        issuers.append("accounts.google.com")  # Google's ID tokens may name it without https
    options: dict[str, Any] = {
        "iss": {"essential": True, "values": issuers},
        "aud": {"essential": True, "value": config.client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
        "iat": {"essential": True},
    }
    params = {"nonce": nonce, "client_id": config.client_id, "access_token": access_token}
    claims = CodeIDToken(token.claims, token.header, options, params)
    if not nonce:
        raise SsoFlowError("this sign-in has no nonce to check the ID token against")
    try:
        claims.validate(now=now, leeway=LEEWAY_SECONDS)
    except ExpiredTokenError:
        raise SsoFlowError("the ID token has expired; start the sign-in again") from None
    except MissingClaimError as exc:
        raise SsoFlowError(
            f"the ID token lacks the claim(s) {exc.claim}; sign-in refused"
        ) from None
    except ClaimError as exc:
        raise SsoFlowError(_claim_problem(exc.claim)) from None
    return dict(claims)


def _claim_problem(claim: str) -> str:
    problems = {
        "iss": "was issued by another identity provider",
        "aud": "was issued for another application",
        "azp": "was issued for another application",
        "nonce": "does not belong to this sign-in (its nonce differs)",
        "at_hash": "does not match the access token sent with it",
        "iat": "claims to be issued in the future (check the clocks)",
        "nbf": "is not valid yet (check the clocks)",
    }
    what = problems.get(claim, f"has an invalid {_code(claim)!r} claim")
    return f"the ID token {what}; sign-in refused"


def _algorithms(meta: dict[str, Any]) -> list[str]:
    announced = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
    # Never unsigned, never with a shared secret: only the provider's public keys count.
    return [a for a in announced if isinstance(a, str) and a != "none" and not a.startswith("HS")]


def _auth_method(client: OidcClient, meta: dict[str, Any]) -> str:
    if not client.config.client_secret:
        return "none"
    supported = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "client_secret_basic" not in supported and "client_secret_post" in supported:
        return "client_secret_post"
    return "client_secret_basic"


def _code(value: object) -> str:
    """A provider's error code, fit to be shown (never free text from outside)."""
    text = str(value or "unknown_error")
    return text if re.fullmatch(r"[A-Za-z0-9_.-]{1,60}", text) else "unknown_error"


def _unreachable(issuer: str, exc: Exception) -> ProviderUnavailableError:
    log.warning("SSO: identity provider %s unreachable: %s", issuer, exc)
    return ProviderUnavailableError(
        f"the identity provider at {issuer} could not be reached ({type(exc).__name__}); "
        "try again later"
    )
