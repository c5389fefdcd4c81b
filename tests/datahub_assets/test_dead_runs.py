"""Runs cannot wedge the queue: a killed `datahub materialize` leaves no run STARTED for good."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest
from dagster_graphql import DagsterGraphQLClient

from datahub_assets.instance import prepare_home
from resources.runs import HOST_TAG, PID_TAG, STARTED_TAG, fail_dead_runs, owner_tags

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_runs_of_a_gone_process_are_failed_and_live_ones_kept() -> None:
    with dg.instance_for_test() as instance:
        @dg.asset
        def probe() -> None:
            return None

        job = dg.Definitions(assets=[probe]).resolve_implicit_global_asset_job_def()
        mine = instance.create_run_for_job(job, tags=owner_tags(), status=dg.DagsterRunStatus.STARTED)
        gone = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED,
                                           tags={**owner_tags(), PID_TAG: str(dead_pid())})
        reused = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED,
                                             tags={**owner_tags(), STARTED_TAG: "1"})  # our pid, another process
        elsewhere = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED,
                                                tags={**owner_tags(), HOST_TAG: "another-host",
                                                      PID_TAG: str(dead_pid())})
        assert sorted(fail_dead_runs(instance)) == sorted([gone.run_id, reused.run_id])
        status = {r: instance.get_run_by_id(r).status for r in  # type: ignore[union-attr]
                  (mine.run_id, gone.run_id, reused.run_id, elsewhere.run_id)}
        assert status == {mine.run_id: dg.DagsterRunStatus.STARTED, gone.run_id: dg.DagsterRunStatus.FAILURE,
                          reused.run_id: dg.DagsterRunStatus.FAILURE, elsewhere.run_id: dg.DagsterRunStatus.STARTED}
        assert fail_dead_runs(instance) == []


CATALOG = """\
partitions: {start: "2017-01-01"}
sources:
  stuck: {kind: http, url: "http://127.0.0.1:PORT/r/{entity}", timeout: 300s, schedule: off}
  plant: {kind: demo, seed: 7, cadence: 1m, schedule: off}
series:
  - {entity: s1, attribute: v, source: stuck}
  - {entity: "urn:demo:plant1", attribute: output, source: plant}
"""


def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


@pytest.mark.integration
@pytest.mark.slow
def test_a_killed_materialization_frees_the_queue_for_a_queued_run(
    tmp_path: Path, silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "catalog.yaml").write_text(CATALOG.replace("PORT", str(silent_port)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAHUB_", "DAGSTER_", "S3_"))}
    env |= {"DAGSTER_HOME": str(tmp_path / "home"), "DATAHUB_LAKE": str(tmp_path / "lake"),
            "DATAHUB_CATALOG": str(tmp_path / "catalog.yaml")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    home = prepare_home(tmp_path / "home")
    config = (home / "dagster.yaml").read_text().replace("max_concurrent_runs: 4", "max_concurrent_runs: 1")
    (home / "dagster.yaml").write_text(config)  # one slot: a dead run holding it wedges the queue
    prepare_home(home)

    stuck = subprocess.Popen([str(BIN / "datahub"), "materialize", "--select", "key:raw/stuck/*", "--partition",
                              "2017-01-02"], cwd=tmp_path, env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with dg.DagsterInstance.get() as instance:
        started = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
        wait_for(lambda: instance.get_runs_count(started) == 1, 120, "the materialization did not start")
        os.killpg(stuck.pid, signal.SIGKILL)
        stuck.wait(timeout=30)
        (dead,) = instance.get_runs(started)

        port = free_port()
        dagster = subprocess.Popen([str(BIN / "dagster"), "dev", "-w", str(ROOT / "workspace.yaml"), "-h",
                                    "127.0.0.1", "-p", str(port)], cwd=ROOT, env=env, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: _answers(f"http://127.0.0.1:{port}/server_info"), 120, "dagster dev did not start")
            client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=30)
            run_id = client.submit_job_execution("__ASSET_JOB", tags={"dagster/partition": "2017-01-02"},
                                                 asset_selection=[dg.AssetKey(["raw", "plant",
                                                                               "urn_demo_plant1_output"])])
            done = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
            wait_for(lambda: instance.get_run_by_id(run_id).status in done, 240,  # type: ignore[union-attr]
                     "the queued run did not finish")
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS  # type: ignore[union-attr]
            failed = instance.get_run_by_id(dead.run_id)
            assert failed is not None and failed.status == dg.DagsterRunStatus.FAILURE
        finally:
            os.killpg(dagster.pid, signal.SIGKILL)
            dagster.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
