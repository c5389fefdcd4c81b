"""The one wiring point: catalog -> assets, checks, jobs, schedules, sensors and resources."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from datahub_assets.factories import (
    build_export_asset,
    build_grid_asset,
    build_raw_asset,
    raw_key,
)
from datahub_assets.partitions import daily_partitions
from datahub_assets.schedules import build_close_day_schedule, build_refresh_schedule
from resources.catalog import Catalog, DemoSourceConfig, FileSourceConfig, load_catalog
from resources.registry import make_resources, source_key
from resources.settings import Settings
from sensors.file_changes import build_file_changes_sensor
from sensors.run_failures import build_run_failure_sensor

DEFAULT_CADENCE = timedelta(hours=1)
OWNER = "team:data-platform"


def source_cadence(catalog: Catalog, source: str) -> timedelta:
    """The finest cadence of a source's series (its own for `demo`), else one hour."""
    config = catalog.sources[source]
    cadences = [s.cadence for s in catalog.series if s.source == source and s.cadence is not None]
    if isinstance(config, DemoSourceConfig):
        cadences.append(config.cadence)
    return min(cadences, default=DEFAULT_CADENCE)


def apply_house_policy(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Defaults every asset shares, applied once."""
    return spec.replace_attributes(owners=[*spec.owners, OWNER] if OWNER not in spec.owners else spec.owners)


def build_definitions(catalog: Catalog, settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings()
    partitions = daily_partitions(catalog)
    assets: list[dg.AssetsDefinition] = [build_raw_asset(catalog, s, partitions) for s in catalog.series]
    assets += [build_grid_asset(catalog, g, partitions) for g in catalog.grids]
    assets += [build_export_asset(catalog, e, partitions) for e in catalog.exports]

    everything = dg.define_asset_job("materialize_all", selection=dg.AssetSelection.all())
    jobs = [everything]
    schedules = [build_close_day_schedule(everything)]
    sensors = [build_run_failure_sensor()]
    for source in catalog.sources:
        keys = [raw_key(s) for s in catalog.series if s.source == source]
        if not keys:
            continue
        job = dg.define_asset_job(
            f"refresh_{source}_job", selection=dg.AssetSelection.assets(*keys).downstream()
        )
        jobs.append(job)
        schedules.append(build_refresh_schedule(source, job, source_cadence(catalog, source)))
        if isinstance(catalog.sources[source], FileSourceConfig):
            sensors.append(build_file_changes_sensor(source, source_key(source), job,
                                                     first_day=catalog.partitions.start))

    defs = dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources=make_resources(catalog, settings),
    )
    return defs.map_asset_specs(func=apply_house_policy)


@dg.definitions
def defs() -> dg.Definitions:
    settings = Settings()
    return build_definitions(load_catalog(settings.catalog), settings)
