"""Request and response models (NKZ DataHub field names, camelCase aliases accepted)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

Method = Literal["locf", "mean", "min", "max", "sum", "first", "last", "count", "minmax"]
Fill = Literal["locf", "linear"]
# Accepted instants: a day of margin above datetime.min, so the carry-in before a window start (at most 24 h by
# default) stays representable; an explicit tolerance reaching further back is refused by the service.
MIN_INSTANT = datetime(1, 1, 2, tzinfo=UTC)
MAX_INSTANT = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
MIN_EPOCH = -62135510400  # 0001-01-02T00:00:00Z
MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z
_RANGE = "must lie between 0001-01-02T00:00:00Z and 9999-12-31T23:59:59Z"


def _instant(value: Any) -> datetime:
    """ISO-8601 (naive = UTC) or epoch seconds -> aware UTC datetime in [MIN_INSTANT, MAX_INSTANT].

    Only ValueError may leave a validator (pydantic turns it into a 422); an OverflowError would be a 500."""
    if isinstance(value, bool):
        raise ValueError("expected an ISO-8601 time or epoch seconds")
    if isinstance(value, (int, float)):
        # Compared as numbers (a huge int is never converted to float); NaN fails every comparison.
        if not MIN_EPOCH <= value <= MAX_EPOCH:
            raise ValueError(f"epoch seconds {_RANGE}")
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return _instant(number)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except ValueError:
            raise ValueError("expected an ISO-8601 time or epoch seconds") from None
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00: before datetime.min in UTC
            raise ValueError(f"the time {_RANGE}") from None
        if not MIN_INSTANT <= parsed <= MAX_INSTANT:
            raise ValueError(f"the time {_RANGE}")
        return parsed
    raise ValueError("expected an ISO-8601 time or epoch seconds")


def _resolution(value: Any) -> Any:
    """A duration or "raw" (str), or a number of points (int; an integral float such as 10.0 counts)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("expected a duration like '1m', 'raw' or a number of points")
    return value


Instant = Annotated[datetime, BeforeValidator(_instant)]
ResolutionValue = Annotated[str | int, BeforeValidator(_resolution)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SeriesSelector(_Body):
    entity_id: str = Field(
        min_length=1, max_length=512, validation_alias=AliasChoices("entity_id", "entityId"),
        description="NGSI-LD or catalog entity id",
    )
    attribute: str = Field(min_length=1, max_length=256)
    source: str | None = Field(None, min_length=1, max_length=64, description="catalog source name (optional)")


class AlignRequest(_Body):
    series: list[SeriesSelector] = Field(min_length=1, description="series, in the order of the output columns")
    start_time: Instant = Field(validation_alias=AliasChoices("start_time", "startTime"))
    end_time: Instant = Field(validation_alias=AliasChoices("end_time", "endTime"))
    resolution: ResolutionValue = Field(
        "1m", description='a duration ("1m", "1h"), "raw", or an integer: that many evenly spaced points'
    )
    method: Method = "locf"
    tolerance: str | None = Field(None, description='locf tolerance ("15m"), or "none" for no limit')
    fill: Fill = Field("locf", description='"locf" (carry within the tolerance) or "linear" (needs max_gap)')
    max_gap: str | None = Field(None, description='linear fill: the longest gap between readings filled ("2h")')
    quality: bool = Field(False, description="add a quality code per cell: 0 measured, 1 carried, 2 interpolated, "
                                             "3 missing")
    as_of: Instant | None = Field(None, description="answer with what the platform knew at this instant")


class ExportRequest(AlignRequest):
    resolution: ResolutionValue | None = None  # type: ignore[assignment]
    method: Method | None = None  # type: ignore[assignment]
    format: Literal["csv", "parquet"] = "csv"
    aggregation: Literal["raw", "1 hour", "1 day"] | None = Field(
        None, description="NKZ calendar buckets; an explicit resolution wins; neither means hourly"
    )


class ColumnInfo(BaseModel):
    name: str
    entity_id: str
    attribute: str
    source: str
    unit: str | None = None


class AlignResponse(BaseModel):
    """JSON answer: epoch seconds, then one list per series (`value_0`, ...), null for a missing cell."""

    model_config = ConfigDict(extra="allow")
    timestamps: list[float]
    columns: list[ColumnInfo]


class ExportLink(BaseModel):
    download_url: str
    expires_in: int
    format: Literal["parquet"] = "parquet"


class EntityAttribute(BaseModel):
    name: str
    source: str
    unit: str | None = None
    asset: str | None = Field(None, description='the Dagster asset of the series: "raw/<source>/<slug>"')
    cadence: str | None = Field(None, description='the catalog cadence ("10m"), where declared')
    discovered: bool = Field(False, description="reported by the source, not declared in the catalog: read on "
                                                "demand, never stored, no asset")


class Entity(BaseModel):
    id: str
    type: str
    name: str
    source: str
    attributes: list[EntityAttribute]


class EntitiesResponse(BaseModel):
    entities: list[Entity]


class MaterializationRequest(_Body):
    assets: list[str] = Field(min_length=1, max_length=200, description='asset keys like "raw/tetouan/urn_x_power"')
    partitions: list[str] = Field(min_length=1, max_length=366, description="daily partition keys, YYYY-MM-DD")


class MaterializationRuns(BaseModel):
    run_ids: list[str]


class RunStatus(BaseModel):
    run_id: str
    status: str
    partition: str | None = None
    assets: list[str] = []


class ErrorBody(BaseModel):
    error: str
