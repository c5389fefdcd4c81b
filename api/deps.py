"""Request dependencies: the tenant (header or verified token), forwarded headers, the service context."""

from __future__ import annotations

import re
from typing import Annotated, Any

import anyio.to_thread
from fastapi import Depends, Request

from api.auth import Authenticator
from api.errors import ApiError
from api.service import Context

TENANT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_TENANT = "default"
FORWARDABLE = ("authorization", "x-tenant-id")


# Dependencies are `async` so FastAPI calls them on the event loop, not through a worker thread each; only a
# token's verification (which may fetch a key set) goes to a thread.


async def get_context(request: Request) -> Context:
    context: Context = request.state.context
    return context


async def get_tenant(request: Request) -> str:
    """`X-Tenant-ID` (default `default`); with tokens on, the verified token's `tenant_id`."""
    headers = request.headers.getlist("x-tenant-id")
    if len(headers) > 1:
        raise ApiError(400, "X-Tenant-ID: given more than once")
    header = headers[0] if headers else None
    if header is not None and not TENANT_RE.match(header):
        raise ApiError(400, "X-Tenant-ID: must match [A-Za-z0-9_-]{1,64}")
    auth: Authenticator | None = request.state.auth
    if auth is None:
        return header or DEFAULT_TENANT
    tenant = (await anyio.to_thread.run_sync(verified_claims, request, auth)).get("tenant_id")
    if not isinstance(tenant, str) or not TENANT_RE.match(tenant):
        raise ApiError(403, "Authorization: the token carries no valid tenant_id claim")
    if header is not None and header != tenant:
        raise ApiError(403, "X-Tenant-ID: does not match the token's tenant")
    return tenant


def verified_claims(request: Request, auth: Authenticator) -> dict[str, Any]:
    authorization = request.headers.getlist("authorization")
    if len(authorization) > 1:
        raise ApiError(400, "Authorization: given more than once")
    return auth.claims(authorization[0] if authorization else "")


async def get_forwarded(request: Request) -> dict[str, str]:
    """The caller's headers a source may ask to receive (`forward_headers`)."""
    return {name: request.headers[name] for name in FORWARDABLE if name in request.headers}


ContextDep = Annotated[Context, Depends(get_context)]
TenantDep = Annotated[str, Depends(get_tenant)]
ForwardedDep = Annotated[dict[str, str], Depends(get_forwarded)]
