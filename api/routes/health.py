"""`/health` (liveness plus readiness of the lake and the Dagster instance) and `/metrics`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        request.state.context.lake.check()
        checks["lake"] = "ok"
    except Exception as exc:  # readiness reports any failure, by type only
        checks["lake"] = f"error: {type(exc).__name__}"
    try:
        request.state.instance.get_runs_count()
        checks["instance"] = "ok"
    except Exception as exc:
        checks["instance"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
