"""`POST /api/datahub/materializations` launches Dagster runs; `GET .../{run_id}` polls one."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlparse

import dagster as dg
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError
from fastapi import APIRouter, Request

from api.deps import ContextDep, TenantDep
from api.errors import ApiError
from api.models import ErrorBody, MaterializationRequest, MaterializationRuns, RunStatus
from resources.durations import quoted
from resources.keys import tenant_paths

ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorBody} for c in (400, 404, 422, 502)}
router = APIRouter(prefix="/api/datahub/materializations", tags=["materializations"], responses=ERRORS)
TENANT_TAG = "datahub/tenant"
ASSET_JOB = "__ASSET_JOB"


def graphql_client(url: str) -> DagsterGraphQLClient:
    parsed = urlparse(url)
    return DagsterGraphQLClient(parsed.hostname or "127.0.0.1", port_number=parsed.port,
                                use_https=parsed.scheme == "https", timeout=30)


@router.post("", response_model=MaterializationRuns, status_code=202)
def launch(body: MaterializationRequest, ctx: ContextDep, tenant: TenantDep) -> MaterializationRuns:
    """One queued run per partition, through the Dagster instance's own run queue (pools apply)."""
    known = tenant_paths(ctx.catalog, tenant)
    keys = []
    for i, name in enumerate(body.assets):
        if name not in known:
            raise ApiError(404, f"assets[{i}]: unknown asset {quoted(name)}")
        keys.append(dg.AssetKey(list(known[name])))
    bounds, today = ctx.catalog.partitions, datetime.now(UTC).date()
    for i, key in enumerate(body.partitions):
        try:
            day = date.fromisoformat(key)
        except ValueError:
            raise ApiError(422, f"partitions[{i}]: not a day (YYYY-MM-DD)") from None
        if not bounds.holds(day, today):
            span = f"{bounds.start.isoformat()}..{bounds.last(today).isoformat()}"
            raise ApiError(422, f"partitions[{i}]: outside the partitions {span}")
    client = graphql_client(ctx.settings.dagster_graphql_url)
    run_ids = []
    for key in body.partitions:
        try:
            run_ids.append(client.submit_job_execution(
                ASSET_JOB, asset_selection=keys, tags={"dagster/partition": key, TENANT_TAG: tenant},
            ))
        except (DagsterGraphQLClientError, OSError) as exc:
            raise ApiError(502, f"dagster: could not launch the run ({type(exc).__name__})") from None
    return MaterializationRuns(run_ids=run_ids)


@router.get("/{run_id}", response_model=RunStatus)
def status(run_id: str, request: Request, tenant: TenantDep) -> RunStatus:
    instance: dg.DagsterInstance = request.state.instance
    run = instance.get_run_by_id(run_id) if len(run_id) <= 64 else None
    if run is None or run.tags.get(TENANT_TAG) != tenant:
        raise ApiError(404, f"run_id: unknown run {quoted(run_id)}")
    selection = sorted(k.to_user_string() for k in run.asset_selection or ())
    return RunStatus(run_id=run_id, status=run.status.value, partition=run.tags.get("dagster/partition"),
                     assets=selection)
