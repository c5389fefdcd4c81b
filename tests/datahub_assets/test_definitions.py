"""The definitions built from the catalog: loadable, policies applied, schedules and checks in place."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from datahub_assets.definitions import build_definitions
from datahub_assets.factories import REFRESH_TAG
from datahub_assets.schedules import cadence_cron
from resources.catalog import load_catalog
from resources.settings import DEMO_CATALOG, Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    return build_definitions(load_catalog(DEMO_CATALOG), Settings(lake=str(tmp_path_factory.mktemp("lake"))))


def test_loadable(defs: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(defs)


def test_three_layers_with_exact_lineage(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert "raw/tetouan/urn_tetouan_zone1_power" in keys and "raw/plant/urn_demo_plant1_output" in keys
    grid = graph.get(dg.AssetKey(["grid", "city_and_plant_1m"]))
    assert {p.to_user_string() for p in grid.parent_keys} == {
        "raw/tetouan/urn_tetouan_zone1_power", "raw/tetouan/urn_tetouan_weather_temperature",
        "raw/plant/urn_demo_plant1_output"}
    export = graph.get(dg.AssetKey(["export", "city_and_plant_csv"]))
    assert export.parent_keys == {dg.AssetKey(["grid", "city_and_plant_1m"])}


def test_every_asset_is_daily_partitioned_owned_and_grouped(defs: dg.Definitions) -> None:
    for spec in defs.resolve_all_asset_specs():
        if spec.group_name == "ondemand":
            continue
        assert spec.owners == ["team:data-platform"], spec.key
        assert spec.group_name in {"raw", "grids", "exports"}, spec.key
        partitions = spec.partitions_def
        assert isinstance(partitions, dg.DailyPartitionsDefinition), spec.key
        assert partitions.start == datetime(2017, 1, 1, tzinfo=partitions.start.tzinfo)
        assert partitions.end_offset == 1
        # The demo catalog covers exactly its data: 14 days, every one of them fillable.
        assert partitions.get_partition_keys() == [f"2017-01-{d:02d}" for d in range(1, 15)]


def test_ondemand_assets_draw_lineage_from_every_raw_series(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    raw = {k for k in graph.get_all_asset_keys() if k.path[0] == "raw"}
    for name in ("align", "export"):
        node = graph.get(dg.AssetKey(["ondemand", name]))
        assert node.parent_keys == raw and not node.is_materializable


def test_raw_fetches_retry_with_backoff_and_queue_per_source(defs: dg.Definitions) -> None:
    raw = defs.resolve_assets_def(dg.AssetKey(["raw", "tetouan", "urn_tetouan_zone1_power"]))
    node = raw.node_def
    assert isinstance(node, dg.OpDefinition)
    policy = node.retry_policy
    assert policy is not None and policy.backoff == dg.Backoff.EXPONENTIAL and policy.jitter == dg.Jitter.PLUS_MINUS
    assert policy.max_retries >= 3
    assert node.pool == "source_tetouan"


def test_checks_follow_the_catalog(defs: dg.Definitions) -> None:
    check_keys = {(k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys}
    zone1 = "raw/tetouan/urn_tetouan_zone1_power"
    assert {(zone1, n) for n in ("no_duplicate_timestamps", "monotonic_time", "values_in_range",
                                 "no_gaps_over_cadence", "fresh")} <= check_keys
    plant = "raw/plant/urn_demo_plant1_output"
    assert (plant, "values_in_range") not in check_keys  # no min/max declared


@pytest.mark.parametrize(("cadence", "cron"), [
    (timedelta(seconds=10), "* * * * *"), (timedelta(minutes=10), "*/10 * * * *"),
    (timedelta(minutes=7), "*/6 * * * *"), (timedelta(hours=1), "0 * * * *"),
    (timedelta(hours=5), "0 */4 * * *"), (timedelta(days=1), "0 0 * * *"),
])
def test_cadence_cron(cadence: timedelta, cron: str) -> None:
    assert cadence_cron(cadence) == cron


def test_schedules_refresh_today_and_close_yesterday(defs: dg.Definitions) -> None:
    at = datetime(2017, 1, 5, 12, 10, tzinfo=UTC)
    refresh = defs.resolve_schedule_def("refresh_tetouan")
    assert refresh.cron_schedule == "*/10 * * * *"
    assert defs.resolve_schedule_def("refresh_plant").cron_schedule == "* * * * *"
    close = defs.resolve_schedule_def("close_day")
    with dg.instance_for_test() as instance:
        repo = defs.get_repository_def()

        def tick(schedule: dg.ScheduleDefinition, when: datetime) -> dg.ScheduleExecutionData:
            context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when, repository_def=repo)
            return schedule.evaluate_tick(context)

        (request,) = tick(refresh, at).run_requests or []
        assert request.partition_key == "2017-01-05" and request.tags[REFRESH_TAG] == "incremental"
        assert [r.partition_key for r in tick(close, at).run_requests or []] == ["2017-01-04"]
        # The demo's partitions end on 2017-01-14: past it, both skip instead of asking for a missing partition.
        assert [r.partition_key for r in tick(close, datetime(2017, 1, 15, 0, 15, tzinfo=UTC)).run_requests
                or []] == ["2017-01-14"]
        for schedule in (refresh, close):
            later = tick(schedule, datetime(2024, 5, 3, 12, 10, tzinfo=UTC))
            assert not later.run_requests and "end on 2017-01-14" in (later.skip_message or "")
    job = defs.resolve_job_def("refresh_tetouan_job")
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    # The refresh materializes the source's raw series; grids and exports follow by automation.
    assert selected == {f"raw/tetouan/urn_tetouan_{s}" for s in ("zone1_power", "zone2_power", "zone3_power",
                                                                 "weather_temperature", "weather_humidity")}
    # Each source's schedule is on or off as its catalog entry says (the demo's file never changes).
    assert refresh.default_status == dg.DefaultScheduleStatus.STOPPED
    assert defs.resolve_schedule_def("refresh_plant").default_status == dg.DefaultScheduleStatus.RUNNING
    assert close.default_status == dg.DefaultScheduleStatus.RUNNING


def test_dagster_cli_validates_the_workspace(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "DATAHUB_LAKE": str(tmp_path / "lake")}
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "success" in (result.stdout + result.stderr).lower()
