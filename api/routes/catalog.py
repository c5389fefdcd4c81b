"""`GET /api/datahub/entities`: the tenant's entities with their series (NKZ shape)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import ContextDep, TenantDep
from api.errors import ApiError
from api.models import EntitiesResponse, Entity, EntityAttribute, ErrorBody
from api.service import tenant_series
from resources.durations import format_duration, quoted
from resources.keys import raw_path

router = APIRouter(prefix="/api/datahub", tags=["catalog"],
                   responses={c: {"model": ErrorBody} for c in (400, 404, 422)})


def entity_type(entity_id: str) -> str:
    """`urn:ngsi-ld:WeatherObserved:x` -> `WeatherObserved`; other ids -> the part before the last `:`."""
    parts = entity_id.split(":")
    if len(parts) >= 4 and parts[0] == "urn" and parts[1] == "ngsi-ld":
        return parts[2]
    return parts[-2] if len(parts) >= 2 else "Entity"


@router.get("/entities", response_model=EntitiesResponse)
def entities(ctx: ContextDep, tenant: TenantDep, source: str | None = Query(None, max_length=64)) -> EntitiesResponse:
    if source is not None and (source not in ctx.catalog.sources or ctx.catalog.sources[source].tenant != tenant):
        raise ApiError(404, f"source: unknown source {quoted(source)}")  # another tenant's is unknown here too
    out: dict[str, Entity] = {}
    for s in tenant_series(ctx.catalog, tenant):
        if source is not None and s.source != source:
            continue
        entity = out.setdefault(s.entity, Entity(id=s.entity, type=entity_type(s.entity),
                                                 name=s.entity.rsplit(":", 1)[-1], source=s.source, attributes=[]))
        entity.attributes.append(EntityAttribute(
            name=s.attribute, source=s.source, unit=s.unit, asset="/".join(raw_path(s)),
            cadence=format_duration(s.cadence) if s.cadence is not None else None))
    return EntitiesResponse(entities=list(out.values()))
