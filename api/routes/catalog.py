"""`GET /api/datahub/entities`: the tenant's entities with their series (NKZ shape)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from api.deps import ContextDep, TenantDep
from api.errors import ApiError
from api.models import EntitiesResponse, Entity, EntityAttribute, ErrorBody
from api.service import discovered_series, tenant_series
from api.work import offload
from resources.durations import format_duration, quoted
from resources.keys import raw_path

router = APIRouter(prefix="/api/datahub", tags=["catalog"],
                   responses={c: {"model": ErrorBody} for c in (400, 404, 422, 502, 504)})


def entity_type(entity_id: str) -> str:
    """`urn:ngsi-ld:WeatherObserved:x` -> `WeatherObserved`; other ids -> the part before the last `:`."""
    parts = entity_id.split(":")
    if len(parts) >= 4 and parts[0] == "urn" and parts[1] == "ngsi-ld":
        return parts[2]
    return parts[-2] if len(parts) >= 2 else "Entity"


@router.get("/entities", response_model=EntitiesResponse)
async def entities(request: Request, ctx: ContextDep, tenant: TenantDep,
                   source: str | None = Query(None, max_length=64)) -> EntitiesResponse:
    """The tenant's catalog series, then the series its sources discover (`discovered: true`), by entity."""
    if source is not None and (source not in ctx.catalog.sources or ctx.catalog.sources[source].tenant != tenant):
        raise ApiError(404, f"source: unknown source {quoted(source)}")  # another tenant's is unknown here too
    found = await offload(request, ctx.settings.request_timeout, lambda: discovered_series(ctx, tenant, source))
    out: dict[str, Entity] = {}
    declared = [s for s in tenant_series(ctx.catalog, tenant) if source is None or s.source == source]
    for s in [*declared, *found]:
        entity = out.setdefault(s.entity, Entity(id=s.entity, type=entity_type(s.entity),
                                                 name=s.entity.rsplit(":", 1)[-1], source=s.source, attributes=[]))
        listed = s in declared
        entity.attributes.append(EntityAttribute(
            name=s.attribute, source=s.source, unit=s.unit, asset="/".join(raw_path(s)) if listed else None,
            cadence=format_duration(s.cadence) if s.cadence is not None else None, discovered=not listed))
    return EntitiesResponse(entities=list(out.values()))
