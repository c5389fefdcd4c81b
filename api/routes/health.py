"""`/health`: liveness plus readiness of the lake and the Dagster instance."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        request.state.resources.lake.check()
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
