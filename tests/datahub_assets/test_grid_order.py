"""A grid partition never depends on the order partitions ran in: it declares the raw days it reads (its
carry-in day), fetches one that is not stored through the one fetch path, and turns stale when it changes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from datahub_assets.definitions import build_definitions
from resources.catalog import load_catalog
from resources.settings import Settings

DATAHUB = str(Path(sys.executable).parent / "datahub")
CATALOG = """\
partitions: {start: "2024-03-01", end: "2024-03-03"}
sources:
  meter: {kind: file, path: meter.csv, timestamp_column: ts}
series:
  - {entity: m1, attribute: kwh, source: meter, column: m1, cadence: 10m}
grids:
  - {id: carried, series: [m1.kwh], resolution: 5m, method: locf, tolerance: 20m}
  - {id: smooth, series: [m1.kwh], resolution: 15m, method: locf, fill: linear, max_gap: 2h}
exports:
  - {id: carried_csv, grid: carried, format: csv}
"""
# 23:55 on 03-01 carries into the first cells of 03-02; 03-02 01:00 and 03-03 00:30 bound a linear fill across
# midnight into 03-03 (the fill reads the next day too).
METER = """\
ts,m1
2024-03-01T12:00:00Z,10
2024-03-01T23:55:00Z,11
2024-03-02T00:30:00Z,12
2024-03-02T23:00:00Z,13
2024-03-03T00:30:00Z,15
"""
DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]


def project(root: Path) -> dict[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "meter.csv").write_text(METER)
    (root / "catalog.yaml").write_text(textwrap.dedent(CATALOG))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAHUB_", "DAGSTER_", "S3_"))}
    return env | {"DATAHUB_CATALOG": str(root / "catalog.yaml"), "DATAHUB_LAKE": str(root / "lake"),
                  "DAGSTER_HOME": str(root / "home")}


def materialize(env: dict[str, str], *args: str) -> None:
    result = subprocess.run([DATAHUB, "materialize", "--select", "*", *args], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def grids(root: Path) -> dict[str, pl.DataFrame]:
    out = {}
    for grid in ("carried", "smooth"):
        for day in DAYS:
            out[f"{grid}/{day}"] = pl.read_parquet(root / f"lake/default/grid/{grid}/date={day}/data.parquet")
    return out


@pytest.mark.slow
def test_in_order_reverse_order_and_a_parallel_backfill_give_equal_grids(tmp_path: Path) -> None:
    forward, backward, parallel = (project(tmp_path / name) for name in ("forward", "backward", "parallel"))
    for day in DAYS:
        materialize(forward, "--partition", day)
    for day in reversed(DAYS):
        materialize(backward, "--partition", day)
    materialize(parallel, "--partition", f"{DAYS[0]}..{DAYS[-1]}", "--parallel", "3")
    expected = grids(tmp_path / "forward")
    assert expected["carried/2024-03-02"]["m1_kwh"].to_list()[:6] == [11.0, 11.0, 11.0, 11.0, None, None]
    assert expected["carried/2024-03-02"]["m1_kwh__quality"].to_list()[:6] == [1, 1, 1, 1, 3, 3]
    # 23:00 (13) to 00:30 (15) across midnight: 23:15 .. 00:15 interpolated from both days.
    assert expected["smooth/2024-03-02"]["m1_kwh"].to_list()[-3:] == pytest.approx([13 + 2 / 6 * 1, 13 + 2 / 6 * 2,
                                                                                   13 + 2 / 6 * 3])
    assert expected["smooth/2024-03-02"]["m1_kwh__quality"].to_list()[-3:] == [2, 2, 2]
    for name, frame in (("backward", grids(tmp_path / "backward")), ("parallel", grids(tmp_path / "parallel"))):
        for key, grid in expected.items():
            assert frame[key].equals(grid), f"{name}: {key} differs"


def test_grid_partitions_declare_the_raw_days_they_read(tmp_path: Path) -> None:
    env = project(tmp_path)
    defs = build_definitions(load_catalog(env["DATAHUB_CATALOG"]), Settings(lake=env["DATAHUB_LAKE"]))
    graph = defs.resolve_asset_graph()
    raw = dg.AssetKey(["raw", "meter", "m1_kwh"])
    for grid, expected in (("carried", ["2024-03-01", "2024-03-02"]),
                           ("smooth", ["2024-03-01", "2024-03-02", "2024-03-03"])):
        node = graph.get(dg.AssetKey(["grid", grid]))
        mapping = node.partition_mappings[raw]
        partitions = node.partitions_def
        assert partitions is not None
        upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
            partitions.subset_with_partition_keys(["2024-03-02"]), partitions, partitions,
            current_time=datetime(2024, 3, 10, tzinfo=UTC))
        assert sorted(upstream.partitions_subset.get_partition_keys()) == expected, grid


def test_a_changed_carry_in_day_reaches_the_next_grid_partition(tmp_path: Path) -> None:
    """Dagster sees grid D standing on raw D-1: after raw 03-01 is materialized again, the grid partitions
    whose deps were updated are 03-01 and 03-02 (an automation condition evaluated against the instance)."""
    from datahub_assets.materialize import materialize_partitions

    env = project(tmp_path)
    catalog = load_catalog(env["DATAHUB_CATALOG"])
    defs = build_definitions(catalog, Settings(lake=env["DATAHUB_LAKE"]))
    grid = dg.AssetKey(["grid", "carried"])
    watched = defs.map_asset_specs(
        func=lambda spec: spec.replace_attributes(automation_condition=dg.AutomationCondition.any_deps_updated())
        if spec.key == grid else spec)
    only = dg.AssetSelection.assets(grid)
    with dg.instance_for_test() as instance:
        assert materialize_partitions("*", DAYS[:2], defs=defs, instance=instance, echo=lambda _: None) == []
        first = dg.evaluate_automation_conditions(defs=watched, instance=instance, asset_selection=only)
        assert materialize_partitions("key:raw/*", DAYS[:1], defs=defs, instance=instance, echo=lambda _: None) == []
        after = dg.evaluate_automation_conditions(defs=watched, instance=instance, asset_selection=only,
                                                  cursor=first.cursor)
        assert sorted(after.get_requested_partitions(grid)) == ["2024-03-01", "2024-03-02"]
