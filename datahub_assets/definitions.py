"""The one wiring point: catalog -> assets, checks, jobs, schedules, sensors and resources."""

from __future__ import annotations

import warnings
from datetime import timedelta

import dagster as dg

from datahub_assets.checks import freshness_probe
from datahub_assets.factories import build_export_asset, build_grid_asset, build_raw_asset, raw_key
from datahub_assets.materialize import ALL_ASSETS_JOB
from datahub_assets.partitions import daily_partitions
from datahub_assets.retention import build_retention_job, build_retention_schedule
from datahub_assets.schedules import build_close_day_schedule, build_refresh_schedule
from resources import keys
from resources.catalog import Catalog, load_catalog
from resources.registry import make_resources, source_key
from resources.settings import Settings
from sensors.check_failures import build_check_failure_sensor
from sensors.dead_runs import build_dead_runs_sensor
from sensors.file_changes import build_file_changes_sensor
from sensors.freshness import build_freshness_sensor
from sensors.run_failures import build_run_failure_sensor

DEFAULT_CADENCE = timedelta(hours=1)
OWNER = "team:data-platform"


def source_cadence(catalog: Catalog, source: str) -> timedelta:
    """The finest cadence of a source's series (its own for `demo`), else one hour."""
    config = catalog.sources[source]
    cadences = [s.cadence for s in catalog.series if s.source == source and s.cadence is not None]
    if config.kind == "demo":
        cadences.append(config.duration("cadence"))
    return min(cadences, default=DEFAULT_CADENCE)


def freshness_interval(catalog: Catalog) -> int:
    """Seconds between the freshness sensor's ticks: a quarter of the tightest limit, within 1 to 15 minutes."""
    limits = [s.checks.freshness for s in catalog.series if s.checks.freshness is not None]
    return int(min(max(min(limits, default=timedelta(hours=1)).total_seconds() / 4, 60), 900))


# Grids and exports follow their inputs: when a dependency of the latest partition is updated (and none is
# missing or in progress), Dagster's automation sensor requests it.
FOLLOW = dg.AutomationCondition.eager()
FOLLOWERS = ("grids", "exports")


def apply_house_policy(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Defaults every asset shares, applied once: the owner; grids and exports follow their inputs."""
    owners = [*spec.owners, OWNER] if OWNER not in spec.owners else spec.owners
    if spec.group_name in FOLLOWERS and spec.automation_condition is None:
        return spec.replace_attributes(owners=owners, automation_condition=FOLLOW)
    return spec.replace_attributes(owners=owners)


def source_series(catalog: Catalog, source: str) -> list[dg.AssetKey]:
    """A source's raw series: what its refresh schedule materializes (grids and exports follow by automation)."""
    return [raw_key(s) for s in catalog.series if s.source == source]


def ondemand_specs(catalog: Catalog) -> list[dg.AssetSpec]:
    """What the API produces, declared so the UI draws its lineage: every raw series feeds it. The API
    records its work as runless materializations of these keys."""
    deps = [raw_key(s) for s in catalog.series]
    return [
        dg.AssetSpec(list(keys.ONDEMAND_ALIGN), deps=deps, group_name="ondemand", kinds={"fastapi"},
                     description="Aligned grids served on demand by the API (recorded per flush)."),
        dg.AssetSpec(list(keys.ONDEMAND_EXPORT), deps=deps, group_name="ondemand", kinds={"fastapi"},
                     description="Exports produced on demand by the API (one event per export)."),
    ]


def build_definitions(catalog: Catalog, settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings()
    partitions = daily_partitions(catalog)
    assets: list[dg.AssetsDefinition] = [build_raw_asset(catalog, s, partitions) for s in catalog.series]
    assets += [build_grid_asset(catalog, g, partitions) for g in catalog.grids]
    assets += [build_export_asset(catalog, e, partitions) for e in catalog.exports]
    ondemand = ondemand_specs(catalog)

    everything = dg.define_asset_job(ALL_ASSETS_JOB, selection=dg.AssetSelection.assets(*assets))
    jobs: list[dg.JobDefinition | dg.UnresolvedAssetJobDefinition] = [everything]
    schedules = [build_close_day_schedule(everything, catalog.partitions.end)]
    sensors: list[dg.SensorDefinition] = [
        build_run_failure_sensor(), build_dead_runs_sensor(),
        build_check_failure_sensor(),
        dg.AutomationConditionSensorDefinition("follow_inputs", target=dg.AssetSelection.all(),
                                               default_status=dg.DefaultSensorStatus.RUNNING,
                                               description="Requests grids and exports whose inputs were updated."),
    ]
    for source, entry in catalog.sources.items():
        selected = source_series(catalog, source)
        if not selected:
            continue
        job = dg.define_asset_job(f"refresh_{source}_job", selection=dg.AssetSelection.assets(*selected))
        jobs.append(job)
        schedules.append(build_refresh_schedule(source, job, source_cadence(catalog, source), catalog.partitions.end,
                                                running=entry.schedule))
        if entry.kind == "file":
            sensors.append(build_file_changes_sensor(source, source_key(source), job,
                                                     first_day=catalog.partitions.start,
                                                     last_day=catalog.partitions.end, running=entry.schedule))
    probes = {s.id: freshness_probe(catalog, s) for s in catalog.series if s.checks.freshness is not None}
    if probes:
        sensors.append(build_freshness_sensor(probes, interval_seconds=freshness_interval(catalog)))
    retention = build_retention_job(catalog)
    if retention is not None:
        jobs.append(retention)
        schedules.append(build_retention_schedule(retention))

    defs = dg.Definitions(
        assets=[*assets, *ondemand],
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources=make_resources(catalog, settings),
    )
    with warnings.catch_warnings():  # a preview API of the pinned Dagster, used on purpose (STYLE D2)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_asset_specs(func=apply_house_policy)


@dg.definitions
def defs() -> dg.Definitions:
    settings = Settings()
    return build_definitions(load_catalog(settings.catalog), settings)
