"""`/health` (liveness plus readiness of the lake and the Dagster instance) and `/metrics`.

Both are `async` and never wait for the request thread pool, so they answer while slow sources hold it:
readiness runs in a thread of its own with a short timeout.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from api.auth import Authenticator
from api.deps import verified_claims
from api.errors import ApiError
from api.metrics import METRICS_SCOPE, tenant_view

router = APIRouter(tags=["health"])
READINESS_TIMEOUT = 2.0  # seconds
_probe = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readiness")


def readiness(state: Any) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        state.context.lake.check()
        checks["lake"] = "ok"
    except Exception as exc:  # readiness reports any failure, by type only
        checks["lake"] = f"error: {type(exc).__name__}"
    try:
        state.instance.get_runs(limit=1)  # one indexed row: a count of all runs grows with the instance
        checks["instance"] = "ok"
    except Exception as exc:
        checks["instance"] = f"error: {type(exc).__name__}"
    return checks


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    try:
        checks = await asyncio.wait_for(
            asyncio.wrap_future(_probe.submit(readiness, request.state)), READINESS_TIMEOUT)
    except TimeoutError:
        checks = {"lake": "error: timeout", "instance": "error: timeout"}
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Open without tokens (the embedded default); with tokens on, a verified token is needed and shows only
    its tenant's sources, unless its `scope` holds `metrics:all` (an operator's scraper)."""
    registry = request.state.metrics.registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several workers: the sum of all of them
        registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry)
    auth: Authenticator | None = request.state.auth
    if auth is not None:
        claims = await asyncio.to_thread(verified_claims, request, auth)
        if METRICS_SCOPE not in str(claims.get("scope", "")).split():
            tenant = claims.get("tenant_id")
            if not isinstance(tenant, str):
                raise ApiError(403, "Authorization: the token carries no valid tenant_id claim")
            registry = tenant_view(registry, tenant)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
