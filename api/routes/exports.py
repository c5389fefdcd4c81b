"""`POST /api/datahub/export`: CSV streams; Parquet goes to S3 behind a presigned URL (or an API link)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from api.deps import ContextDep, ForwardedDep, TenantDep
from api.errors import ApiError
from api.lineage import Work
from api.models import ErrorBody, ExportLink, ExportRequest, Method
from api.output import CSV, csv_chunks, parquet_bytes
from api.service import align_request, parse_resolution
from datahub_assets.engine.align import Resolution

ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorBody} for c in (400, 404, 409, 413, 422, 502)}
router = APIRouter(prefix="/api/datahub", tags=["export"], responses=ERRORS)
AGGREGATIONS: dict[str, Resolution] = {"raw": "raw", "1 hour": timedelta(hours=1), "1 day": timedelta(days=1)}
EXPORT_NAME = re.compile(r"^[0-9a-f]{32}\.parquet$")


def export_grid(body: ExportRequest) -> tuple[Resolution, Method]:
    """An explicit resolution wins over `aggregation`; with neither the export is hourly. Method: mean
    (locf for `raw`)."""
    if body.resolution is not None:
        resolution = parse_resolution(body.resolution)
    else:
        resolution = AGGREGATIONS[body.aggregation or "1 hour"]
    method: Method = body.method or ("locf" if resolution == "raw" else "mean")
    return resolution, method


@router.post(
    "/export",
    responses={200: {"content": {CSV: {}, "application/json": {"schema": ExportLink.model_json_schema()}},
                     "description": "CSV stream, or a download link of the Parquet file"},
               204: {"description": "No reading in the window"}},
)
def export(body: ExportRequest, request: Request, ctx: ContextDep, tenant: TenantDep,
           forwarded: ForwardedDep) -> Response:
    resolution, method = export_grid(body)
    result = align_request(ctx, tenant, body, forwarded=forwarded, resolution=resolution, method=method)
    if result is None:
        return Response(status_code=204)
    ctx.metrics.rows_served.labels("export").inc(result.frame.height)
    ctx.metrics.exports.labels(body.format).inc()
    work = Work("export", tenant, tuple(s.id for s in result.series), result.start, result.end,
                result.frame.height, detail=body.format)
    request.state.lineage.record(work)
    if body.format == "csv":
        headers = {"Content-Disposition": 'attachment; filename="export.csv"'}
        return StreamingResponse(csv_chunks(result), media_type=CSV, headers=headers)
    store = request.state.exports
    name = store.put(tenant, parquet_bytes(result))
    url = store.presigned_url(tenant, name) if store.is_s3 else str(request.url_for("export_file", name=name))
    return Response(ExportLink(download_url=url, expires_in=store.expires_in).model_dump_json(),
                    media_type="application/json")


@router.get("/export/files/{name}", name="export_file", response_class=FileResponse)
def export_file(name: str, request: Request, tenant: TenantDep) -> FileResponse:
    """Download a Parquet export of this tenant (when no S3 is configured)."""
    store = request.state.exports
    path = store.local_path(tenant, name) if EXPORT_NAME.match(name) else None
    if path is None:
        raise ApiError(404, f"name: no export {name!r}")
    return FileResponse(path, media_type="application/vnd.apache.parquet", filename=name)
