"""The catalog's asset checks on real data (NAB, tests/data/nab): each finds the file's known quirk and says
where it is. Partitions are materialized by the real raw assets from `file` sources."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from datahub_assets import checks
from datahub_assets.definitions import build_definitions
from datahub_assets.engine.anomaly import anomalies
from datahub_assets.engine.schema import TS, clean
from resources.catalog import load_catalog
from resources.durations import parse_duration
from resources.settings import Settings

NAB = Path(__file__).resolve().parents[1] / "data" / "nab"


@pytest.fixture(scope="module")
def nab_defs(tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    root = tmp_path_factory.mktemp("nab")
    (root / "catalog.yaml").write_text(textwrap.dedent(f"""\
        partitions: {{start: "2013-07-01", end: "2015-09-30"}}
        sources:
          traffic: {{kind: file, path: "{NAB}/occupancy_t4013.csv", timestamp_column: timestamp, schedule: off}}
          machine: {{kind: file, path: "{NAB}/machine_temperature_system_failure.csv", timestamp_column: timestamp,
                    schedule: off}}
          ambient: {{kind: file, path: "{NAB}/ambient_temperature_system_failure.csv", timestamp_column: timestamp,
                    schedule: off}}
        series:
          - {{entity: t4013, attribute: occupancy, source: traffic, column: value, cadence: 5m}}
          - entity: machine
            attribute: temperature
            source: machine
            column: value
            cadence: 5m
            checks: {{min: 20, max: 110, anomaly: {{window: 3d, threshold: 5}}}}
          - {{entity: ambient, attribute: temperature, source: ambient, column: value, cadence: 1h,
              checks: {{max_gap: 2h}}}}
        """))
    return build_definitions(load_catalog(root / "catalog.yaml"), Settings(lake=str(root / "lake")))


@pytest.fixture(scope="module")
def instance() -> Any:
    with dg.instance_for_test() as instance:
        yield instance


def run_checks(defs: dg.Definitions, instance: dg.DagsterInstance, key: str, day: str, *, blocked: bool = False
               ) -> dict[str, dg.AssetCheckEvaluation]:
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, partition_key=day, raise_on_error=False,
                                    asset_selection=[dg.AssetKey.from_user_string(key)])
    assert result.success is not blocked  # a failed blocking check fails the run
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def where(evaluation: dg.AssetCheckEvaluation) -> str:
    return str(evaluation.metadata["where"].value)


def test_duplicate_stamp_is_found_and_named(nab_defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    found = run_checks(nab_defs, instance, "raw/traffic/t4013_occupancy", "2015-09-10")
    dup = found[checks.DUPLICATES]
    assert not dup.passed
    assert dup.metadata["duplicates"].value == 1
    assert "| 2015-09-10 05:33:00+00:00 | 2 |" in where(dup)
    assert found[checks.MONOTONIC].passed
    assert "where" not in found[checks.MONOTONIC].metadata


def test_time_going_backwards_is_found_where_it_steps_back(nab_defs: dg.Definitions,
                                                           instance: dg.DagsterInstance) -> None:
    found = run_checks(nab_defs, instance, "raw/machine/machine_temperature", "2014-01-07")
    back = found[checks.MONOTONIC]
    assert not back.passed
    assert back.metadata["backwards_steps"].value == 1
    assert "| 2014-01-07 02:55:00+00:00 | 2014-01-07 02:00:00+00:00 |" in where(back)
    # the repeated hour is also twelve stamps delivered twice
    assert found[checks.DUPLICATES].metadata["duplicates"].value == 12


def test_gaps_of_days_are_listed_with_their_ends(nab_defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    begins = run_checks(nab_defs, instance, "raw/ambient/ambient_temperature", "2014-04-03")[checks.GAPS]
    assert not begins.passed
    assert "| 2014-04-03 09:00:00+00:00 | 2014-04-04 00:00:00+00:00 | 54000.0 |" in where(begins)
    inside = run_checks(nab_defs, instance, "raw/ambient/ambient_temperature", "2014-04-05")[checks.GAPS]
    assert not inside.passed
    assert inside.metadata["missing_seconds"].value == 86_400.0
    assert "| 2014-04-05 00:00:00+00:00 | 2014-04-06 00:00:00+00:00 | 86400.0 |" in where(inside)
    regular = run_checks(nab_defs, instance, "raw/ambient/ambient_temperature", "2014-03-01")[checks.GAPS]
    assert regular.passed and regular.metadata["gaps"].value == 0


def test_out_of_range_readings_are_counted_and_listed(nab_defs: dg.Definitions,
                                                      instance: dg.DagsterInstance) -> None:
    found = run_checks(nab_defs, instance, "raw/machine/machine_temperature", "2013-12-16", blocked=True)
    low = found[checks.RANGE]
    assert not low.passed and low.severity == dg.AssetCheckSeverity.ERROR
    assert low.metadata["out_of_range"].value == 12
    assert low.metadata["lowest"].value < 20
    assert where(low).count("2013-12-16") == 12


def test_anomaly_check_flags_a_labelled_window_and_not_a_quiet_day(nab_defs: dg.Definitions,
                                                                    instance: dg.DagsterInstance) -> None:
    key = "raw/machine/machine_temperature"
    for day in range(5, 12):  # each day's checks read the three stored days before it
        run_checks(nab_defs, instance, key, f"2014-02-{day:02d}")
    failure = run_checks(nab_defs, instance, key, "2014-02-08")[checks.ANOMALIES]  # inside NAB's window
    assert not failure.passed
    assert failure.metadata["anomalies"].value > 100
    assert "2014-02-08" in where(failure)
    quiet = run_checks(nab_defs, instance, key, "2014-02-12")[checks.ANOMALIES]
    assert quiet.passed and quiet.metadata["readings_scored"].value > 200


def test_every_check_kind_has_one_spec_per_series(nab_defs: dg.Definitions) -> None:
    specs = {(k.asset_key.to_user_string(), k.name) for a in nab_defs.assets or []
             if isinstance(a, dg.AssetsDefinition) for k in a.check_keys}
    assert ("raw/machine/machine_temperature", checks.ANOMALIES) in specs
    assert ("raw/machine/machine_temperature", checks.RANGE) in specs
    assert ("raw/ambient/ambient_temperature", checks.GAPS) in specs
    assert ("raw/ambient/ambient_temperature", checks.ANOMALIES) not in specs


def labelled(name: str) -> list[tuple[datetime, datetime]]:
    windows = json.loads((NAB / "anomaly_windows.json").read_text())[name]
    return [(datetime.fromisoformat(a).replace(tzinfo=UTC), datetime.fromisoformat(b).replace(tzinfo=UTC))
            for a, b in windows]


def test_anomalies_over_the_whole_machine_series_fall_in_nab_windows() -> None:
    """Over the whole file (the catalog's default rule), the flagged readings find every failure NAB labels,
    and most of them lie inside a labelled window (about 11% of the readings do)."""
    name = "machine_temperature_system_failure.csv"
    readings = clean(pl.scan_csv(NAB / name, try_parse_dates=True).rename({"timestamp": TS}))
    flagged = anomalies(readings, window=parse_duration("3d"), threshold=5.0).collect()
    windows = labelled(name)
    inside = flagged.filter(pl.any_horizontal([pl.col(TS).is_between(a, b) for a, b in windows]))
    assert all(flagged.filter(pl.col(TS).is_between(a, b)).height for a, b in windows)
    assert inside.height / flagged.height > 0.5
