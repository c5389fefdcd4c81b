"""A parallel backfill on the PostgreSQL instance (`datahub materialize --parallel`: runs side by side in worker
processes, each on Dagster's multiprocess executor) writes every partition exactly as a sequential one does."""

import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from datahub_assets.definitions import build_definitions
from datahub_assets.instance import prepare_home
from datahub_assets.materialize import PartitionRun, materialize_partitions
from resources.catalog import load_catalog
from resources.settings import DEMO_CATALOG, Settings
from tests.datahub_assets.test_instance import PG, pg_database  # noqa: F401 (a fixture)

DATAHUB = str(Path(sys.executable).parent / "datahub")
SERIES = "raw/tetouan/urn_tetouan_zone1_power"  # one series of the demo's real data: one step per run
DAYS = [f"2017-01-{day:02d}" for day in range(1, 15)]  # every partition of the demo catalog


def partition_file(lake: Path, day: str) -> Path:
    return lake / "default" / SERIES / f"date={day}" / "data.parquet"


@pytest.mark.integration
def test_a_parallel_backfill_of_14_days_equals_a_sequential_one(tmp_path: Path, pg_database: str,  # noqa: F811
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    instance_env = {"DAGSTER_HOME": str(tmp_path / "home"), "DAGSTER_PG_HOST": str(PG["host"]),
                    "DAGSTER_PG_PORT": str(PG["port"]), "DAGSTER_PG_USER": str(PG["user"]),
                    "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": pg_database}
    for key, value in instance_env.items():
        monkeypatch.setenv(key, value)
    prepare_home(tmp_path / "home")  # the instance on the fresh database, created once before any worker
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAHUB_", "DAGSTER_", "S3_"))}
    env |= instance_env | {"DATAHUB_LAKE": str(tmp_path / "parallel")}
    result = subprocess.run([DATAHUB, "materialize", "--select", f"key:{SERIES}", "--partition", "all",
                             "--parallel", "2"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[-1] == "14 partition(s) materialized"
    parallel_runs = {line.split()[0]: line.split()[-1] for line in lines[:-1]}
    assert sorted(parallel_runs) == DAYS

    sequential: list[PartitionRun] = []
    defs = build_definitions(load_catalog(DEMO_CATALOG), Settings(lake=str(tmp_path / "sequential")))
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert materialize_partitions(f"key:{SERIES}", DAYS, defs=defs, instance=instance, echo=lambda _: None,
                                      on_run=sequential.append) == []
        records = instance.get_run_records(dg.RunsFilter(run_ids=list(parallel_runs.values())))
        statuses = {r.dagster_run.tags["dagster/partition"]: r.dagster_run.status for r in records}
        assert statuses == dict.fromkeys(DAYS, dg.DagsterRunStatus.SUCCESS)
        for run in sequential:
            record = instance.get_run_record_by_id(run.run_id)
            assert record is not None and record.dagster_run.status == dg.DagsterRunStatus.SUCCESS, run.key
        # Each parallel run stepped through the multiprocess executor (its step in a process of its own) ...
        for day, run_id in parallel_runs.items():
            assert instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED), day
        # ... and runs overlapped in time.
        spans = sorted((r.start_time or 0.0, r.end_time or 0.0) for r in records)
        assert any(later[0] < earlier[1] for earlier, later in pairwise(spans))
        assert instance.get_materialized_partitions(dg.AssetKey(SERIES.split("/"))) == set(DAYS)

    for day in DAYS:
        expected = pl.read_parquet(partition_file(tmp_path / "sequential", day))
        assert expected.height == 144, day  # a day of 10-minute readings
        assert_frame_equal(pl.read_parquet(partition_file(tmp_path / "parallel", day)), expected)
