"""`POST /api/datahub/materializations` launches real queued runs through a running Dagster webserver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest

from datahub_assets.instance import prepare_home
from tests.api.conftest import LiveApi, free_port, start_api, write_catalog

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def with_dagster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("runs")
    catalog = write_catalog(root)
    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAHUB_CATALOG", str(catalog))
        mp.setenv("DATAHUB_LAKE", str(root / "lake"))
        mp.setenv("DAGSTER_HOME", str(root / "home"))
        prepare_home(root / "home")  # once, before any server starts
        dagster = Path(sys.executable).parent / "dagster"
        proc = subprocess.Popen([str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                                cwd=ROOT, env=dict(os.environ), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, "dagster dev did not start"
                time.sleep(0.5)
            with dg.DagsterInstance.get() as instance:
                yield from start_api(root, catalog, instance,
                                     dagster_graphql_url=f"http://127.0.0.1:{port}/graphql")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.mark.integration
@pytest.mark.slow
def test_launch_and_poll_a_partitioned_run(with_dagster: LiveApi) -> None:
    api = with_dagster
    answer = api.client.post("/api/datahub/materializations", json={
        "assets": ["raw/plant/urn_demo_plant1_output", "raw/tetouan/urn_tetouan_zone1_power", "grid/city_hourly",
                   "raw/tetouan/urn_tetouan_zone2_power"],
        "partitions": ["2017-01-05"]})
    assert answer.status_code == 202, answer.text
    (run_id,) = answer.json()["run_ids"]
    deadline = time.monotonic() + 180
    status = {}
    while time.monotonic() < deadline:
        status = api.client.get(f"/api/datahub/materializations/{run_id}").json()
        if status["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    assert status["status"] == "SUCCESS", status
    assert status["partition"] == "2017-01-05" and "grid/city_hourly" in status["assets"]
    assert (api.root / "lake/default/grid/city_hourly/date=2017-01-05/data.parquet").is_file()
    assert (api.root / "lake/default/raw/plant/urn_demo_plant1_output/date=2017-01-05/data.parquet").is_file()
    # Another tenant cannot see the run; an unknown run is a 404 too.
    assert api.client.get(f"/api/datahub/materializations/{run_id}", headers={"X-Tenant-ID": "acme"}).status_code == 404
    assert api.client.get("/api/datahub/materializations/nope").status_code == 404


def wait_done(api: LiveApi, run_id: str, timeout: float = 240) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    status: dict[str, object] = {}
    while time.monotonic() < deadline:
        status = api.client.get(f"/api/datahub/materializations/{run_id}").json()
        if status["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(1)
    return status


@pytest.mark.integration
@pytest.mark.slow
def test_runs_of_one_source_never_overlap(with_dagster: LiveApi) -> None:
    """The source's pool (limit 1, run granularity, deploy/dagster.yaml) serializes its queued runs."""
    api = with_dagster
    answer = api.client.post("/api/datahub/materializations", json={
        "assets": ["raw/plant/urn_demo_plant1_output", "raw/plant/urn_demo_plant1_temperature"],
        "partitions": ["2017-01-08", "2017-01-09"]})
    assert answer.status_code == 202, answer.text
    first, second = answer.json()["run_ids"]
    assert wait_done(api, first)["status"] == "SUCCESS"
    assert wait_done(api, second)["status"] == "SUCCESS"
    spans = sorted((stats.start_time, stats.end_time) for stats in
                   (api.instance.get_run_stats(first), api.instance.get_run_stats(second)))
    assert all(t is not None for span in spans for t in span)
    assert spans[0][1] <= spans[1][0], f"runs of one source overlapped: {spans}"
