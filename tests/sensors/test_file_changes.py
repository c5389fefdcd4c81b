from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg

from resources.sources.file import FileSource
from sensors.file_changes import build_file_changes_sensor

JOB = dg.define_asset_job("refresh", selection=dg.AssetSelection.all())


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01", end_offset=1))
def meter() -> None:
    """Stands in for the raw assets the sensor's job targets."""


def evaluate(sensor: dg.SensorDefinition, source: FileSource, cursor: str | None) -> tuple[list, str | None]:
    defs = dg.Definitions(assets=[meter], jobs=[JOB], sensors=[sensor], resources={"source_meter": source})
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"source_meter": source},
                                          repository_def=defs.get_repository_def())
        result = sensor.evaluate_tick(context)
    return result.run_requests or [], result.cursor


def test_new_and_changed_files_launch_their_days_once(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("ts,v\n2024-03-01T10:00:00Z,1\n2024-03-02T10:00:00Z,2\n")
    source = FileSource(name="meter", path=str(tmp_path / "*.csv"), timestamp_column=["ts"])
    sensor = build_file_changes_sensor("meter", "source_meter", JOB, first_day=date(2024, 1, 1))

    requests, cursor = evaluate(sensor, source, None)
    assert [r.partition_key for r in requests] == ["2024-03-01", "2024-03-02"]
    again, same_cursor = evaluate(sensor, source, cursor)
    assert again == [] and same_cursor == cursor

    (tmp_path / "b.csv").write_text("ts,v\n2024-03-05T00:00:00Z,5\n")
    requests, cursor = evaluate(sensor, source, cursor)
    assert [r.partition_key for r in requests] == ["2024-03-05"]

    (tmp_path / "a.csv").write_text("ts,v\n2024-03-02T11:00:00Z,3\n")
    os.utime(tmp_path / "a.csv", (1, 1))
    changed, _ = evaluate(sensor, source, cursor)
    assert [r.partition_key for r in changed] == ["2024-03-02"]
    assert changed[0].run_key not in {r.run_key for r in requests}


def test_days_before_the_partitions_or_beyond_the_cap_are_left_out(tmp_path: Path) -> None:
    rows = "".join(f"2024-01-{d:02d}T00:00:00Z,{d}\n" for d in range(1, 31))
    (tmp_path / "a.csv").write_text("ts,v\n2023-12-31T00:00:00Z,0\n" + rows)
    source = FileSource(name="meter", path=str(tmp_path / "a.csv"), timestamp_column=["ts"])
    sensor = build_file_changes_sensor("meter", "source_meter", JOB, first_day=date(2024, 1, 1), max_days=5)
    requests, _ = evaluate(sensor, source, None)
    assert [r.partition_key for r in requests] == [f"2024-01-{d}" for d in range(26, 31)]
