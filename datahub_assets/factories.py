"""Assets built from the catalog: raw series -> aligned grids -> exports, all daily partitioned."""


import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from datahub_assets import checks
from datahub_assets.cache import shared_cache
from datahub_assets.engine.align import DEFAULT, Tolerance, align, carry_in, carry_out
from datahub_assets.engine.schema import CSV_DATETIME_FORMAT, EXPORT_TS, TS, handed_out
from datahub_assets.fetch import FetchedDay, fetch_day, raw_dataset, store_day
from datahub_assets.metadata import frame_metadata
from datahub_assets.partitions import day_window, partition_day
from datahub_assets.window import read_many
from resources import keys
from resources.catalog import Catalog, ExportConfig, GridConfig, SeriesConfig
from resources.lake import ParquetLake
from resources.registry import LAKE, source_key
from resources.sources.base import Source, SourceError

FETCH_RETRY = dg.RetryPolicy(
    max_retries=4, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def raw_key(series: SeriesConfig) -> dg.AssetKey:
    return dg.AssetKey(list(keys.raw_path(series)))


def grid_key(grid: GridConfig) -> dg.AssetKey:
    return dg.AssetKey(list(keys.grid_path(grid)))


def export_key(export: ExportConfig) -> dg.AssetKey:
    return dg.AssetKey(list(keys.export_path(export)))


def source_pool(source: str) -> str:
    """One concurrency pool per source: runs that fetch from it queue one at a time."""
    return f"source_{source}"


REFRESH_TAG = "datahub/refresh"  # "incremental" on the schedule's refreshes of today's partition


def build_raw_asset(catalog: Catalog, series: SeriesConfig, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    key = raw_key(series)
    source_config = catalog.sources[series.source]

    @dg.asset(
        key=key,
        partitions_def=partitions,
        required_resource_keys={LAKE, source_key(series.source)},
        retry_policy=FETCH_RETRY,
        pool=source_pool(series.source),
        check_specs=checks.check_specs(key, series),
        group_name="raw",
        kinds={"parquet", source_config.kind if ":" not in source_config.kind else "python"},
        description=f"Readings of {series.id} from source {series.source!r}, one UTC day per partition.",
        metadata={"series": series.id, "source": series.source, "unit": series.unit or "",
                  "tenant": source_config.tenant},
    )
    def _raw(context: AssetExecutionContext) -> dg.MaterializeResult:
        day = partition_day(context.partition_key)
        lake: ParquetLake = getattr(context.resources, LAKE)
        source: Source = getattr(context.resources, source_key(series.source))
        incremental = context.run.tags.get(REFRESH_TAG) == "incremental"
        try:
            fetched = fetch_day(lake, catalog, series, source, day, incremental=incremental)
        except SourceError as exc:
            if exc.retryable:
                raise
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        store_day(lake, raw_dataset(lake, catalog, series), fetched)
        return dg.MaterializeResult(
            metadata={**frame_metadata(fetched.frame, TS), **fetch_metadata(fetched)},
            check_results=checks.check_results(series, checks.gather(lake, catalog, series, fetched)),
        )

    return _raw


def fetch_metadata(fetched: FetchedDay) -> dict[str, Any]:
    return {"fetched_rows": fetched.fetched.height, "dropped_nulls": fetched.counts["nulls"],
            "fetched_from": dg.MetadataValue.timestamp(fetched.since)}


def grid_tolerance(grid: GridConfig) -> Tolerance:
    return DEFAULT if grid.tolerance is None else grid.tolerance


def grid_reach(grid: GridConfig) -> tuple[timedelta, timedelta]:
    """How far before and after a partition the grid reads raw readings (carry-in; the next reading of a
    linear fill)."""
    if grid.method != "locf":
        return timedelta(0), timedelta(0)
    before = carry_in(grid_tolerance(grid), grid.resolution, fill=grid.fill, max_gap=grid.max_gap)
    after = carry_out(grid.fill, grid.max_gap)
    assert before is not None and after is not None  # bounded by the catalog (MAX_REACH_DAYS)
    return before, after


def reach_days(grid: GridConfig) -> tuple[int, int]:
    before, after = grid_reach(grid)
    return math.ceil(before / timedelta(days=1)), math.ceil(after / timedelta(days=1))


class GridConfigRun(dg.Config):
    """Run config of a grid partition: `as_of` (ISO-8601 UTC) aligns what the platform knew then."""

    as_of: str | None = None


def build_grid_asset(catalog: Catalog, grid: GridConfig, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    by_id = catalog.series_by_id()
    members = [by_id[sid] for sid in grid.series]
    tenant = catalog.tenant_of(members[0])
    tolerance = grid_tolerance(grid)
    before, after = reach_days(grid)
    # Every raw day a partition reads is declared, so Dagster shows grid D stale when raw D-1 changes and plans
    # backfills in that order.
    mapping = dg.TimeWindowPartitionMapping(start_offset=-before, end_offset=after)
    sources = {s.source for s in members}

    @dg.asset(
        key=grid_key(grid),
        deps=[dg.AssetDep(raw_key(s), partition_mapping=mapping) for s in members],
        partitions_def=partitions,
        required_resource_keys={LAKE, *(source_key(name) for name in sources)},
        group_name="grids",
        kinds={"polars", "parquet"},
        description=f"{len(members)} series on a {grid.resolution} grid ({grid.method}"
                    f"{', linear fill' if grid.fill == 'linear' else ''}).",
        metadata={"series": ", ".join(grid.series), "method": grid.method, "resolution": str(grid.resolution),
                  "tenant": tenant, "reads_days_before": before, "reads_days_after": after},
    )
    def _grid(context: AssetExecutionContext, config: GridConfigRun) -> dg.MaterializeResult:
        day = partition_day(context.partition_key)
        start, end = day_window(day)
        lake: ParquetLake = getattr(context.resources, LAKE)
        as_of = parse_as_of(config.as_of) if config.as_of else None
        if as_of is None:
            fetched = ensure_days(context, lake, catalog, members, day, before, after)
            if fetched:
                context.log.info(f"fetched {len(fetched)} raw day(s) the grid reads that were not stored: "
                                 + ", ".join(fetched))
        carry, ahead = grid_reach(grid)
        frames = read_many(lake, catalog, members, start=start, end=end, carry=carry, carry_out=ahead, as_of=as_of,
                           cache=shared_cache())
        aligned = align(
            frames, [s.slug for s in members], start=start, end=end, resolution=grid.resolution,
            method=grid.method, tolerance=tolerance, fill=grid.fill, max_gap=grid.max_gap,
            quality=grid.method == "locf",
        ).collect()
        lake.write(lake.dataset(tenant, "grid", grid.id), day, aligned)
        meta = frame_metadata(aligned, TS)
        if as_of is not None:
            meta["as_of"] = dg.MetadataValue.timestamp(as_of)
        return dg.MaterializeResult(metadata=meta)

    return _grid


def parse_as_of(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def ensure_days(context: AssetExecutionContext, lake: ParquetLake, catalog: Catalog, members: list[SeriesConfig],
                day: date, before: int, after: int) -> list[str]:
    """Fetch the raw days a grid partition reads that are not stored, through the one fetch path, and record
    each as a materialization of its raw partition: the grid never depends on what ran first."""
    today = datetime.now(UTC).date()
    done = []
    for series in members:
        dataset = raw_dataset(lake, catalog, series)
        for offset in range(-before, after + 1):
            other = day + timedelta(days=offset)
            if not catalog.partitions.holds(other, today) or lake.exists(dataset, other):
                continue
            source: Source = getattr(context.resources, source_key(series.source))
            fetched = fetch_day(lake, catalog, series, source, other)
            uri = store_day(lake, dataset, fetched)
            evidence = checks.gather(lake, catalog, series, fetched)
            for event in checks.runless_events(raw_key(series), series, evidence, {
                    **frame_metadata(fetched.frame, TS), **fetch_metadata(fetched),
                    "materialized_by": f"grid {context.asset_key.to_user_string()} (run {context.run_id})",
                    "uri": dg.MetadataValue.path(uri)}):
                context.instance.report_runless_asset_event(event)
            done.append(f"{series.id} {other.isoformat()}")
    return done


def export_frame(grid_frame: pl.DataFrame, members: list[SeriesConfig]) -> pl.DataFrame:
    """A grid partition as handed out: `timestamp` then one column per series named by its id."""
    return handed_out(grid_frame, [(s.slug, s.id) for s in members]).collect()


def csv_bytes(frame: pl.DataFrame) -> bytes:
    return frame.write_csv(datetime_format=CSV_DATETIME_FORMAT).encode()


def build_export_asset(
    catalog: Catalog, export: ExportConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    grid = catalog.grid(export.grid)
    by_id = catalog.series_by_id()
    members = [by_id[sid] for sid in grid.series]
    tenant = catalog.tenant_of(members[0])

    @dg.asset(
        key=export_key(export),
        deps=[grid_key(grid)],
        partitions_def=partitions,
        required_resource_keys={LAKE},
        group_name="exports",
        kinds={export.format},
        description=f"Grid {grid.id!r} as {export.format.upper()}, one file per day.",
        metadata={"grid": grid.id, "format": export.format, "tenant": tenant},
    )
    def _export(context: AssetExecutionContext) -> dg.MaterializeResult:
        day = partition_day(context.partition_key)
        lake: ParquetLake = getattr(context.resources, LAKE)
        frame = export_frame(lake.read(lake.dataset(tenant, "grid", grid.id), day), members)
        dataset = lake.dataset(tenant, "export", export.id)
        if export.format == "parquet":
            uri = lake.write(dataset, day, frame)
        else:
            uri = lake.write_bytes(lake.partition(dataset, day, "data.csv"), csv_bytes(frame))
        meta: dict[str, Any] = {**frame_metadata(frame, EXPORT_TS), "uri": dg.MetadataValue.path(uri)}
        return dg.MaterializeResult(metadata=meta)

    return _export
