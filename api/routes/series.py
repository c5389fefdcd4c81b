"""Aligned grids: `POST /api/datahub/timeseries/align` and `GET .../entities/{id}/data`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import ValidationError

from api.deps import ContextDep, ForwardedDep, TenantDep
from api.errors import ApiError, rename_fields
from api.lineage import Work
from api.models import AlignRequest, AlignResponse, ErrorBody, Fill, Method, SeriesSelector
from api.output import ARROW, CSV, JSON, negotiate, respond, whole
from api.service import Aligned, align_request, tenant_series
from api.work import offload
from resources.durations import quoted

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 404, 406, 409, 413, 422, 502, 503, 504)
}
router = APIRouter(prefix="/api/datahub/timeseries", tags=["timeseries"], responses=ERRORS)

# The entity data GET builds an align body from its query: errors are answered under the query's names.
QUERY_NAMES = {"start_time": "time_from", "end_time": "time_to", "series": "attrs", "attribute": "attrs"}

FORMATS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/json": {}, ARROW: {}, CSV: {}},
        "description": "The aligned grid, as Arrow IPC stream, JSON or CSV (by Accept)",
    },
    204: {"description": "No reading of any requested series in the window"},
}


def answer(request: Request, built: tuple[Aligned | None, bytes | None], tenant: str, kind: str) -> Response:
    result, body = built
    if result is None:
        return Response(status_code=204)
    ctx = request.state.context
    ctx.metrics.rows_served.labels("align").inc(result.height)
    ctx.metrics.cells_served.inc(result.height * len(result.series))
    request.state.lineage.record(Work("align", tenant, tuple(s.id for s in result.series), result.start,
                                      result.end, result.height))
    return respond(result, kind, body)


@router.post("/align", response_model=AlignResponse, responses=FORMATS)
async def align(
    body: AlignRequest, request: Request, ctx: ContextDep, tenant: TenantDep, forwarded: ForwardedDep,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    kind = negotiate(accept)
    def work() -> tuple[Aligned | None, bytes | None]:
        result = align_request(ctx, tenant, body, forwarded=forwarded, streamable=kind != JSON)
        return result, whole(result, kind)

    return answer(request, await offload(request, ctx.settings.request_timeout, work), tenant, kind)


@router.get("/entities/{entity_id}/data", response_model=AlignResponse, responses=FORMATS)
async def entity_data(
    entity_id: str,
    request: Request,
    ctx: ContextDep,
    tenant: TenantDep,
    forwarded: ForwardedDep,
    time_from: Annotated[str, Query(description="ISO-8601 or epoch seconds", max_length=64)],
    time_to: Annotated[str, Query(description="ISO-8601 or epoch seconds", max_length=64)],
    attrs: Annotated[str | None, Query(description="comma-separated attributes (all)", max_length=4096)] = None,
    resolution: Annotated[str, Query(max_length=32)] = "1m",
    method: Method = "locf",
    tolerance: Annotated[str | None, Query(max_length=32)] = None,
    fill: Fill = "locf",
    max_gap: Annotated[str | None, Query(max_length=32)] = None,
    quality: bool = False,
    as_of: Annotated[str | None, Query(description="ISO-8601 or epoch seconds", max_length=64)] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    owned = [s for s in tenant_series(ctx.catalog, tenant) if s.entity == entity_id]
    if not owned:
        raise ApiError(404, f"entity_id: unknown entity {quoted(entity_id)}")
    names = [a.strip() for a in attrs.split(",") if a.strip()] if attrs else [s.attribute for s in owned]
    try:
        body = AlignRequest(
            series=[SeriesSelector(entity_id=entity_id, attribute=a) for a in names],
            start_time=time_from, end_time=time_to, resolution=resolution, method=method, tolerance=tolerance,
            fill=fill, max_gap=max_gap, quality=quality, as_of=as_of,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        message = f"{first['loc'][0]}: {first['msg'].removeprefix('Value error, ')}"
        raise ApiError(422, rename_fields(message, QUERY_NAMES)) from None
    for i, name in enumerate(names):
        if not any(s.attribute == name for s in owned):
            raise ApiError(404, f"attrs[{i}]: entity {quoted(entity_id)} has no attribute {quoted(name)}")
    kind = negotiate(accept)

    def work() -> tuple[Aligned | None, bytes | None]:
        try:
            result = align_request(ctx, tenant, body, forwarded=forwarded, streamable=kind != JSON)
            return result, whole(result, kind)
        except ApiError as exc:  # the shared align path names body fields; this caller sent query parameters
            raise ApiError(exc.status, rename_fields(exc.message, QUERY_NAMES), exc.headers) from None

    return answer(request, await offload(request, ctx.settings.request_timeout, work), tenant, kind)
