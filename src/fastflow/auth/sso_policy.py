"""What a verified SSO identity may do here: enter at all (e-mail domain), under which name,
with which role (from a groups or roles claim)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastflow import usernames
from fastflow.auth.sso_errors import SsoRefusedError
from fastflow.errors import InvalidInputError
from fastflow.models import Role

NAME_CLAIMS = ("preferred_username", "email")


def words(text: str) -> frozenset[str]:
    """A setting's list: values separated by commas and/or whitespace."""
    return frozenset(w for w in re.split(r"[,\s]+", text) if w)


@dataclass(frozen=True)
class SsoPolicy:
    # A claim whose values are groups or roles, e.g. "groups", "roles", "realm_access.roles".
    role_claim: str | None = None
    admin_groups: frozenset[str] = field(default_factory=frozenset)
    operator_groups: frozenset[str] = field(default_factory=frozenset)
    default_role: Role = Role.VIEWER
    # Lower-case e-mail domains that may sign in; empty: every account of the provider.
    allowed_domains: frozenset[str] = field(default_factory=frozenset)

    def check_domain(self, claims: Mapping[str, Any]) -> None:
        """SsoRefusedError unless the verified e-mail address is of an allowed domain."""
        if not self.allowed_domains:
            return
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise SsoRefusedError(
                "your identity provider did not share your e-mail address, which this server "
                "needs to check who may sign in; ask your administrator"
            )
        if claims.get("email_verified") is False:
            raise SsoRefusedError(
                f"your e-mail address {email} is not verified at your identity provider, so "
                "this server cannot tell whether its domain may sign in"
            )
        domain = email.rsplit("@", 1)[1].strip().rstrip(".").lower()
        if domain not in self.allowed_domains:
            raise SsoRefusedError(
                f"accounts of {domain} may not sign in to this server; use an account of your "
                "organisation, or ask an administrator"
            )

    def role_for(self, claims: Mapping[str, Any]) -> Role | None:
        """The role the claims give; None when no role claim is configured (role kept)."""
        if self.role_claim is None:
            return None
        groups = set(_values(_claim(claims, self.role_claim)))
        if groups & self.admin_groups:
            return Role.ADMIN
        if groups & self.operator_groups:
            return Role.OPERATOR
        return self.default_role

    def username_for(self, claims: Mapping[str, Any]) -> str:
        """The name a new account gets: `preferred_username`, else `email`, normalised."""
        for name in NAME_CLAIMS:
            value = claims.get(name)
            if not isinstance(value, str):
                continue
            try:
                return usernames.normalize(value.strip())
            except InvalidInputError:
                continue
        raise SsoRefusedError(
            "your identity provider shared neither a usable user name (preferred_username) "
            "nor an e-mail address, so no account can be made for you; ask your administrator"
        )


def _claim(claims: Mapping[str, Any], name: str) -> Any:
    """A claim by its exact name, else by a dotted path into nested objects."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _values(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []
