"""Assets built from the catalog: raw series -> aligned grids -> exports, all daily partitioned."""


from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext

from datahub_assets import checks
from datahub_assets.engine.align import DEFAULT, Tolerance, align, carry_in
from datahub_assets.engine.quality import quality
from datahub_assets.engine.schema import CSV_DATETIME_FORMAT, EXPORT_TS, TS, clean, handed_out
from datahub_assets.metadata import frame_metadata
from datahub_assets.partitions import day_window, is_open, partition_day
from datahub_assets.window import raw_dataset, read_many, series_ref
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


def build_raw_asset(catalog: Catalog, series: SeriesConfig, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    key = raw_key(series)
    source_config = catalog.sources[series.source]
    ref = series_ref(series)

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
        start, end = day_window(day)
        now = datetime.now(UTC)
        source: Source = getattr(context.resources, source_key(series.source))
        try:
            fetched = source.read(ref, start=start, end=end)
        except SourceError as exc:
            if exc.retryable:
                raise
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        counts = quality(
            fetched.lazy(), start=start, end=end, max_gap=checks.max_gap(series),
            minimum=series.checks.min, maximum=series.checks.max, closed=not is_open(day, now),
        ).collect().row(0, named=True)
        frame = clean(fetched.lazy()).collect()
        lake: ParquetLake = getattr(context.resources, LAKE)
        lake.write(raw_dataset(lake, catalog, series), day, frame)
        return dg.MaterializeResult(
            metadata={**frame_metadata(frame, TS), "fetched_rows": counts["rows"], "dropped_nulls": counts["nulls"]},
            check_results=checks.check_results(series, counts, open_partition=is_open(day, now), now=now),
        )

    return _raw


def grid_tolerance(grid: GridConfig) -> Tolerance:
    if grid.tolerance is None:
        return DEFAULT
    return None if grid.tolerance == "none" else grid.tolerance


def build_grid_asset(catalog: Catalog, grid: GridConfig, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    by_id = catalog.series_by_id()
    members = [by_id[sid] for sid in grid.series]
    tenant = catalog.tenant_of(members[0])
    tolerance = grid_tolerance(grid)

    @dg.asset(
        key=grid_key(grid),
        deps=[raw_key(s) for s in members],
        partitions_def=partitions,
        required_resource_keys={LAKE},
        group_name="grids",
        kinds={"polars", "parquet"},
        description=f"{len(members)} series on a {grid.resolution} grid ({grid.method}).",
        metadata={"series": ", ".join(grid.series), "method": grid.method, "resolution": str(grid.resolution),
                  "tenant": tenant},
    )
    def _grid(context: AssetExecutionContext) -> dg.MaterializeResult:
        day = partition_day(context.partition_key)
        start, end = day_window(day)
        lake: ParquetLake = getattr(context.resources, LAKE)
        carry = carry_in(tolerance, grid.resolution) if grid.method == "locf" else timedelta(0)
        frames = read_many(lake, catalog, members, start=start, end=end, carry=carry)
        aligned = align(
            frames, [s.slug for s in members], start=start, end=end, resolution=grid.resolution,
            method=grid.method, tolerance=tolerance,
        ).collect()
        lake.write(lake.dataset(tenant, "grid", grid.id), day, aligned)
        return dg.MaterializeResult(metadata=frame_metadata(aligned, TS))

    return _grid


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
