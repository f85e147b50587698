"""Secrets and stored parameters: everyone may see the keys, only admins secret values."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response

from fastflow.api.deps import Admin, ServicesDep, Viewer
from fastflow.api.responses import AUTHENTICATED, errors
from fastflow.api.router import ApiRouter
from fastflow.api.schemas import SecretOut
from fastflow.models import Role
from fastflow.secrets.requests import SecretCreate, SecretUpdate
from fastflow.secrets.service import KEY_PATTERN

router = ApiRouter(prefix="/api/secrets", tags=["secrets"], responses=AUTHENTICATED)

SecretKey = Annotated[str, Path(pattern=KEY_PATTERN, description="an environment variable name")]


def _is_admin(role: str) -> bool:
    return Role(role) is Role.ADMIN


@router.get("", response_model=list[SecretOut])
def list_secrets(services: ServicesDep, user: Viewer) -> list[SecretOut]:
    """Every stored secret and parameter; secret values are null unless you are an admin."""
    reveal = _is_admin(user.role)
    return [SecretOut.of(e, reveal) for e in services.secrets.entries()]


@router.get("/{key}", response_model=SecretOut, responses=errors(404))
def get_secret(key: SecretKey, services: ServicesDep, user: Viewer) -> SecretOut:
    return SecretOut.of(services.secrets.get(key), _is_admin(user.role))


@router.post("", response_model=SecretOut, status_code=201, responses=errors(409))
def create_secret(body: SecretCreate, services: ServicesDep, _: Admin) -> SecretOut:
    """Store a secret (encrypted) or a plain parameter; every run receives it as env var."""
    return SecretOut.of(services.secrets.create(body.key, body.value, body.is_secret), True)


@router.put("/{key}", response_model=SecretOut, responses=errors(404))
def update_secret(key: SecretKey, body: SecretUpdate, services: ServicesDep, _: Admin) -> SecretOut:
    return SecretOut.of(services.secrets.update(key, body.value, body.is_secret), True)


@router.delete("/{key}", status_code=204, responses=errors(404))
def delete_secret(key: SecretKey, services: ServicesDep, _: Admin) -> Response:
    services.secrets.delete(key)
    return Response(status_code=204)
