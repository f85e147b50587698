"""The ways an SSO sign-in can fail, each with the HTTP status its page is answered with."""

from __future__ import annotations

from fastflow.errors import ConflictError, FastflowError, ForbiddenError


class SsoFlowError(FastflowError):
    """The sign-in answer cannot be trusted or used (state, code, ID token): 400."""


class SsoRefusedError(ForbiddenError):
    """The person proved who they are but may not enter (domain, disabled account): 403."""


class SsoNameTakenError(ConflictError):
    """A first SSO sign-in whose name belongs to an account not linked to it: 409."""


class ProviderUnavailableError(FastflowError):
    """The identity provider could not be reached or answered nonsense: 502."""

    status_code = 502
