"""Grids and exports follow their raw series by declarative automation; retention deletes what is too old."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from datahub_assets.definitions import build_definitions
from datahub_assets.materialize import materialize_partitions
from datahub_assets.retention import enforce
from resources.catalog import load_catalog
from resources.registry import make_lake
from resources.settings import Settings

TODAY = datetime.now(UTC).date()


def catalog_text(retention: str = "") -> str:
    return textwrap.dedent(f"""\
        partitions: {{start: "{TODAY - timedelta(days=20)}"}}
        sources:
          plant: {{kind: demo, seed: 1, cadence: 10m{retention}}}
        series:
          - {{entity: p1, attribute: out, source: plant, cadence: 10m}}
          - {{entity: p2, attribute: out, source: plant, cadence: 10m, retention: 3d}}
        grids:
          - {{id: both, series: [p1.out, p2.out], resolution: 10m, method: locf}}
        exports:
          - {{id: both_csv, grid: both, format: csv, retention: 2d}}
        """)


def test_the_automation_sensor_requests_grid_then_export_after_a_raw_materialization(tmp_path: Path) -> None:
    (tmp_path / "catalog.yaml").write_text(catalog_text())
    defs = build_definitions(load_catalog(tmp_path / "catalog.yaml"), Settings(lake=str(tmp_path / "lake")))
    sensor = defs.resolve_sensor_def("follow_inputs")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    grid, export = dg.AssetKey(["grid", "both"]), dg.AssetKey(["export", "both_csv"])
    today, yesterday = TODAY.isoformat(), (TODAY - timedelta(days=1)).isoformat()
    with dg.instance_for_test() as instance:
        assert materialize_partitions("key:raw/*", [yesterday], defs=defs, instance=instance,
                                      echo=lambda _: None) == []
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert materialize_partitions("key:raw/*", [today], defs=defs, instance=instance, echo=lambda _: None) == []
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        # The latest partition once its raw days exist: the grid, and the export standing on it, in one go.
        assert tick.get_requested_partitions(grid) == {today}
        assert tick.get_requested_partitions(export) == {today}
        assert not tick.get_requested_partitions(grid) & {yesterday}  # eager follows the latest window only
        followed = "key:grid/* or key:export/*"
        assert materialize_partitions(followed, [today], defs=defs, instance=instance, echo=lambda _: None) == []
        quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert quiet.total_requested == 0  # nothing changed: nothing asked
        assert materialize_partitions("key:raw/*", [today], defs=defs, instance=instance, echo=lambda _: None) == []
        again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
        assert again.get_requested_partitions(grid) == {today} == again.get_requested_partitions(export)


@pytest.mark.parametrize("on_s3", [False, True], ids=["folder", "s3"])
def test_retention_deletes_old_raw_partitions_and_records_them(tmp_path: Path, on_s3: bool,
                                                               request: pytest.FixtureRequest) -> None:
    settings = Settings(lake=str(tmp_path / "lake"))
    if on_s3:
        from tests.conftest import S3_BUCKET
        from tests.s3 import ACCESS_KEY, SECRET_KEY

        endpoint = request.getfixturevalue("s3_endpoint")
        mp = request.getfixturevalue("monkeypatch")
        mp.setenv("S3_ACCESS_KEY", ACCESS_KEY)
        mp.setenv("S3_SECRET_KEY", SECRET_KEY)
        settings = Settings(lake=f"s3://{S3_BUCKET}/ret-{tmp_path.name[-12:]}", s3_endpoint=endpoint,
                            s3_access_key=ACCESS_KEY, s3_secret_key=SECRET_KEY)
    (tmp_path / "catalog.yaml").write_text(catalog_text(", retention: 5d"))
    catalog = load_catalog(tmp_path / "catalog.yaml")
    defs = build_definitions(catalog, settings)
    days = [(TODAY - timedelta(days=n)).isoformat() for n in range(7, -1, -1)]
    with dg.instance_for_test() as instance:
        assert materialize_partitions("*", days, defs=defs, instance=instance, echo=lambda _: None) == []
        result = defs.resolve_job_def("retention").execute_in_process(instance=instance)
        assert result.success
        (step,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
        removed = step.step_output_data.metadata["removed_partitions"].value  # type: ignore[union-attr]
        # The grid of today-7 fetched its carry-in day today-8 too (stored, like any raw day).
        stored_raw = [(TODAY - timedelta(days=8)).isoformat(), *days]
        observed = instance.fetch_observations(dg.AssetKey(["raw", "plant", "p1_out"]), limit=10).records
        assert sorted(r.partition_key or "" for r in observed) == stored_raw[:3]
        assert all(r.asset_observation is not None and r.asset_observation.metadata["stored"].value is False
                   for r in observed)
    assert removed["raw/plant/p1_out"] == stored_raw[:3]  # the source keeps 5 days: today-8 .. today-6 go
    assert removed["raw/plant/p2_out"] == stored_raw[:5]  # the series keeps 3
    assert removed["export/both_csv"] == days[:5]  # the export keeps 2; grids keep everything
    with dg.build_resources({"lake": make_lake(settings)}) as built:
        lake = built.lake
        stored = lake.days(lake.dataset("default", "raw", "plant", "p1_out"))
        assert [d.isoformat() for d in stored] == stored_raw[3:]
        assert len(lake.days(lake.dataset("default", "grid", "both"))) == len(days)
        assert enforce(lake, catalog, TODAY) == {}  # nothing more to remove
