"""Freshness without a run: the sensor reads the lake and turns the check red when the source (or its
schedule) stalls, green again when a reading lands; it records an evaluation only when the outcome changes
(or once an hour)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from datahub_assets.checks import FRESHNESS, freshness_probe
from datahub_assets.definitions import build_definitions
from datahub_assets.engine.schema import SERIES_SCHEMA
from resources.catalog import load_catalog
from resources.lake import ParquetLake
from resources.settings import Settings
from sensors.freshness import build_freshness_sensor

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def catalog_at(tmp_path: Path) -> Path:
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent("""\
        partitions: {start: "2026-03-01"}
        sources:
          plant: {kind: demo, cadence: 10m}
        series:
          - {entity: boiler, attribute: temperature, source: plant, checks: {freshness: 2h}}
          - {entity: boiler, attribute: pressure, source: plant}
        """))
    return tmp_path / "catalog.yaml"


def store(lake: ParquetLake, at: datetime) -> None:
    frame = pl.DataFrame({"ts": [at], "value": [1.0]}, schema=SERIES_SCHEMA)
    lake.write(lake.dataset("default", "raw", "plant", "boiler_temperature"), at.date(), frame)


def test_stalled_source_turns_red_without_a_run_and_green_when_a_reading_lands(tmp_path: Path) -> None:
    catalog = load_catalog(catalog_at(tmp_path))
    lake = ParquetLake(root=str(tmp_path / "lake"))
    clock = [NOW]
    probes = {s.id: freshness_probe(catalog, s) for s in catalog.series if s.checks.freshness}
    sensor = build_freshness_sensor(probes, interval_seconds=60, clock=lambda: clock[0])
    with dg.instance_for_test() as instance:
        def tick(cursor: str | None) -> dg.SensorResult:
            context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lake": lake})
            result = sensor(context)
            assert isinstance(result, dg.SensorResult)
            return result

        store(lake, NOW - timedelta(hours=26))  # yesterday's last reading; nothing today: the source stalled
        first = tick(None)
        [red] = first.asset_events
        assert isinstance(red, dg.AssetCheckEvaluation)
        assert (red.asset_key.to_user_string(), red.check_name, red.passed) == (
            "raw/plant/boiler_temperature", FRESHNESS, False)
        assert red.partition == "2026-03-04"
        assert red.metadata["age_seconds"].value == 26 * 3600
        assert red.metadata["last_reading"].value == (NOW - timedelta(hours=26)).timestamp()

        clock[0] = NOW + timedelta(minutes=5)
        assert tick(first.cursor).asset_events == []  # unchanged: not recorded again

        store(lake, NOW)
        second = tick(first.cursor)
        [green] = second.asset_events
        assert isinstance(green, dg.AssetCheckEvaluation) and green.passed

        clock[0] = NOW + timedelta(hours=1, minutes=10)
        again = tick(second.cursor)
        assert [e.passed for e in again.asset_events if isinstance(e, dg.AssetCheckEvaluation)] == [True]

        clock[0] = NOW + timedelta(hours=2, minutes=1)  # no reading since NOW: stale again
        [late] = tick(again.cursor).asset_events
        assert isinstance(late, dg.AssetCheckEvaluation) and not late.passed

        instance.report_runless_asset_event(late)  # as the daemon records it: on the check the UI shows
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(late.asset_key, FRESHNESS)])
        assert record[dg.AssetCheckKey(late.asset_key, FRESHNESS)] is not None


def test_no_reading_at_all_is_not_fresh(tmp_path: Path) -> None:
    catalog = load_catalog(catalog_at(tmp_path))
    [series] = [s for s in catalog.series if s.checks.freshness]
    evaluation = freshness_probe(catalog, series)(ParquetLake(root=str(tmp_path / "lake")), NOW)
    assert not evaluation.passed and evaluation.metadata["age_seconds"].value == -1.0


def test_definitions_register_the_sensor_for_series_with_a_freshness_limit(tmp_path: Path) -> None:
    defs = build_definitions(load_catalog(catalog_at(tmp_path)), Settings(lake=str(tmp_path / "lake")))
    sensor = defs.get_sensor_def("check_freshness")
    assert sensor.minimum_interval_seconds == 900  # a quarter of the 2 h limit, at most 15 minutes
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_the_registered_sensor_ticks_with_the_definitions_lake(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"))
    defs = build_definitions(load_catalog(catalog_at(tmp_path)), settings)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources=defs.resources)
        result = defs.get_sensor_def("check_freshness")(context)
    assert isinstance(result, dg.SensorResult)
    [evaluation] = result.asset_events
    assert isinstance(evaluation, dg.AssetCheckEvaluation) and not evaluation.passed  # nothing stored yet


def test_past_the_catalogs_last_day_nothing_is_expected_to_be_fresh(tmp_path: Path) -> None:
    path = catalog_at(tmp_path)
    path.write_text(path.read_text().replace('start: "2026-03-01"', 'start: "2026-03-01", end: "2026-03-02"'))
    catalog = load_catalog(path)
    [series] = [s for s in catalog.series if s.checks.freshness]
    evaluation = freshness_probe(catalog, series)(ParquetLake(root=str(tmp_path / "lake")), NOW)
    assert evaluation.passed and evaluation.partition is None
