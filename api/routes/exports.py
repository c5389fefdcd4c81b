"""`POST /api/datahub/export`: CSV streams; Parquet goes to S3 behind a presigned URL (or an API link)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from starlette.background import BackgroundTask

from api.deps import TENANT_RE, ContextDep, ForwardedDep, TenantDep
from api.errors import ApiError
from api.lineage import Work
from api.models import ErrorBody, ExportLink, ExportRequest, Method
from api.output import CSV, csv_chunks, parquet_bytes
from api.service import Aligned, align_request, parse_resolution
from api.work import guarded, offload
from datahub_assets.engine.align import Resolution
from resources.durations import quoted

ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"model": ErrorBody} for c in (400, 404, 409, 413, 422, 502, 503, 504)}
log = logging.getLogger("datahub.api")
router = APIRouter(prefix="/api/datahub", tags=["export"], responses=ERRORS)
AGGREGATIONS: dict[str, Resolution] = {"raw": "raw", "1 hour": timedelta(hours=1), "1 day": timedelta(days=1)}
EXPORT_NAME = re.compile(r"^[0-9a-f]{32}\.parquet$")


def export_grid(body: ExportRequest) -> tuple[Resolution, Method]:
    """An explicit resolution wins and then the export holds what align answers for the same body (method
    `locf` unless given); otherwise NKZ's `aggregation` (calendar buckets, hourly when absent), where the method
    defaults to `mean` (`locf` for `raw`)."""
    if body.resolution is not None:
        return parse_resolution(body.resolution), body.method or "locf"
    resolution = AGGREGATIONS[body.aggregation or "1 hour"]
    return resolution, body.method or ("locf" if resolution == "raw" else "mean")


@router.post(
    "/export",
    responses={200: {"content": {CSV: {}, "application/json": {"schema": ExportLink.model_json_schema()}},
                     "description": "CSV stream, or a download link of the Parquet file"},
               204: {"description": "No reading in the window"}},
)
async def export(body: ExportRequest, request: Request, ctx: ContextDep, tenant: TenantDep,
                 forwarded: ForwardedDep) -> Response:
    resolution, method = export_grid(body)
    store = request.state.exports

    def work() -> tuple[Aligned, str | None] | None:
        result = align_request(ctx, tenant, body, forwarded=forwarded, resolution=resolution, method=method,
                               streamable=body.format == "csv")
        if result is None or body.format == "csv":
            return None if result is None else (result, None)
        try:
            return result, store.put(tenant, parquet_bytes(result))
        except Exception as exc:  # the store (a folder or S3) refused the file: nothing exported, nothing recorded
            log.warning("export could not be stored: %s", type(exc).__name__)
            raise ApiError(503, f"format: the {body.format} export could not be stored; try again",
                           headers={"Retry-After": "30"}) from None
        finally:
            result.release()

    done = await offload(request, ctx.settings.request_timeout, work)
    if done is None:
        return Response(status_code=204)
    result, name = done
    ctx.metrics.rows_served.labels("export").inc(result.height)
    ctx.metrics.exports.labels(body.format).inc()
    # Recorded once the file is stored (Parquet) or about to stream (CSV), never before.
    request.state.lineage.record(Work("export", tenant, tuple(s.id for s in result.series), result.start,
                                      result.end, result.height, detail=body.format))
    if name is None:
        headers = {"Content-Disposition": 'attachment; filename="export.csv"'}
        return StreamingResponse(guarded(csv_chunks(result), result.release), media_type=CSV, headers=headers,
                                 background=BackgroundTask(result.release))
    url = store.presigned_url(tenant, name) if store.is_s3 else store.local_link(ctx.settings.external_url,
                                                                                 tenant, name)
    return Response(ExportLink(download_url=url, expires_in=store.expires_in).model_dump_json(),
                    media_type="application/json")


@router.get("/export/files/{tenant}/{name}", name="export_file", response_class=FileResponse,
            responses={403: {"model": ErrorBody}})
def export_file(tenant: str, name: str, expires: int, signature: Annotated[str, Query(max_length=128)],
                request: Request) -> FileResponse:
    """Download a Parquet export stored without S3: the link is signed and expires, so a plain GET works
    (no header or token) until `expires` (epoch seconds) and never after."""
    store = request.state.exports
    if not TENANT_RE.match(tenant) or not EXPORT_NAME.match(name):
        raise ApiError(404, f"name: no export {quoted(name)}")
    problem = store.verify_link(tenant, name, expires, signature)
    if problem == "signature":
        raise ApiError(403, "signature: not valid for this file")
    if problem == "expired":
        raise ApiError(403, "expires: the link has expired; export again for a new one")
    path = store.local_path(tenant, name)
    if path is None:
        raise ApiError(404, f"name: no export {quoted(name)}")
    return FileResponse(path, media_type="application/vnd.apache.parquet", filename=name)
