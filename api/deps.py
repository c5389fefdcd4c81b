"""Request dependencies: the tenant (header or verified token), forwarded headers, the service context."""

from __future__ import annotations

import re
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from api.errors import ApiError
from api.service import Context

TENANT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_TENANT = "default"
FORWARDABLE = ("authorization", "x-tenant-id")


def get_context(request: Request) -> Context:
    context: Context = request.state.context
    return context


def get_tenant(request: Request) -> str:
    """`X-Tenant-ID` (default `default`); with a JWT secret or JWKS URL set, the verified token's `tenant_id`."""
    header = request.headers.get("x-tenant-id")
    if header is not None and not TENANT_RE.match(header):
        raise ApiError(400, "X-Tenant-ID: must match [A-Za-z0-9_-]{1,64}")
    settings = request.state.context.settings
    if not (settings.jwt_secret or settings.jwks_url):
        return header or DEFAULT_TENANT
    claims = _verified_claims(request, settings)
    tenant = claims.get("tenant_id")
    if not isinstance(tenant, str) or not TENANT_RE.match(tenant):
        raise ApiError(403, "Authorization: the token carries no valid tenant_id claim")
    if header is not None and header != tenant:
        raise ApiError(403, "X-Tenant-ID: does not match the token's tenant")
    return tenant


def _verified_claims(request: Request, settings: Any) -> dict[str, Any]:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "Authorization: a bearer token is required")
    try:
        if settings.jwks_url:
            key = jwt.PyJWKClient(settings.jwks_url).get_signing_key_from_jwt(token).key
            return jwt.decode(token, key, algorithms=["RS256", "ES256"], options={"verify_aud": False})
        return jwt.decode(token, settings.jwt_secret, algorithms=["HS256"], options={"verify_aud": False})
    except jwt.PyJWTError:
        raise ApiError(401, "Authorization: the token is not valid") from None


def get_forwarded(request: Request) -> dict[str, str]:
    """The caller's headers a source may ask to receive (`forward_headers`)."""
    return {name: request.headers[name] for name in FORWARDABLE if name in request.headers}


ContextDep = Annotated[Context, Depends(get_context)]
TenantDep = Annotated[str, Depends(get_tenant)]
ForwardedDep = Annotated[dict[str, str], Depends(get_forwarded)]
