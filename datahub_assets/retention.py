"""Retention: a job and a daily schedule that delete raw partitions older than the catalog's `retention` (per
source or series) from the lake, and exports only where an export says so. What was removed is recorded: in
the run's metadata, and in the instance: an observation on each removed partition (`stored: false`), and,
where the event log storage supports it, the partition wiped back to missing."""


import contextlib
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
from dagster import OpExecutionContext

from resources import keys
from resources.catalog import Catalog
from resources.lake import DATA_FILE, ParquetLake
from resources.registry import LAKE

JOB = "retention"
CRON = "30 1 * * *"  # daily, after close_day


def targets(catalog: Catalog) -> list[tuple[tuple[str, ...], tuple[str, ...], str, timedelta]]:
    """(asset key path, lake dataset parts, partition file, how long kept) of everything with a retention."""
    out: list[tuple[tuple[str, ...], tuple[str, ...], str, timedelta]] = []
    for series in catalog.series:
        keep = catalog.retention_of(series)
        if keep is not None:
            parts = (catalog.tenant_of(series), "raw", series.source, series.slug)
            out.append((keys.raw_path(series), parts, DATA_FILE, keep))
    by_id = catalog.series_by_id()
    for export in catalog.exports:
        if export.retention is not None:
            tenant = catalog.tenant_of(by_id[catalog.grid(export.grid).series[0]])
            file = DATA_FILE if export.format == "parquet" else "data.csv"
            out.append((keys.export_path(export), (tenant, "export", export.id), file, export.retention))
    return out


def enforce(lake: ParquetLake, catalog: Catalog, today: date) -> dict[str, list[str]]:
    """Delete the partitions older than their retention (day D goes once D < today - retention); the deleted
    partition keys by asset."""
    removed: dict[str, list[str]] = {}
    for path, parts, file, keep in targets(catalog):
        dataset = lake.dataset(*parts)
        cutoff = today - timedelta(days=math.ceil(keep / timedelta(days=1)))
        old = [d for d in lake.days(dataset, file) if d < cutoff]
        for day in old:
            lake.delete_partition(dataset, day)
        if old:
            removed["/".join(path)] = [d.isoformat() for d in old]
    return removed


def build_retention_job(catalog: Catalog) -> dg.JobDefinition | None:
    if not targets(catalog):
        return None

    @dg.op(required_resource_keys={LAKE}, description="Deletes lake partitions older than their retention.")
    def enforce_retention(context: OpExecutionContext) -> dg.Output[None]:
        lake: ParquetLake = getattr(context.resources, LAKE)
        removed = enforce(lake, catalog, datetime.now(UTC).date())
        for name, days in removed.items():
            key = dg.AssetKey(name.split("/"))
            for day in days:  # each removed partition says so in its history in the UI
                context.instance.report_runless_asset_event(dg.AssetObservation(
                    asset_key=key, partition=day, metadata={"removed_by": f"retention (run {context.run_id})",
                                                            "stored": False}))
            # Where the instance's storage can, the partitions show as missing again (the open-source event log
            # storages cannot: the observation above records it).
            with contextlib.suppress(NotImplementedError):
                context.instance.wipe_asset_partitions(key, days)
            context.log.info(f"{name}: removed {len(days)} partition(s), {days[0]} .. {days[-1]}")
        meta: dict[str, Any] = {"removed_partitions": dg.MetadataValue.json(removed),
                                "partitions_removed": sum(len(d) for d in removed.values())}
        return dg.Output(None, metadata=meta)

    @dg.job(name=JOB, description="Deletes lake partitions older than the catalog's retention.")
    def retention() -> None:
        enforce_retention()

    return retention


def build_retention_schedule(job: dg.JobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(name="enforce_retention", cron_schedule=CRON, job=job, execution_timezone="UTC",
                                 default_status=dg.DefaultScheduleStatus.RUNNING,
                                 description="Deletes partitions older than their retention, daily.")

