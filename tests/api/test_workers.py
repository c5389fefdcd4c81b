"""The API served by several worker processes: every request answered, counted once in /metrics (summed over
the workers) and recorded once in the lineage (each worker's writer, together on one instance)."""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest

from tests.api.conftest import free_port, wait_healthy

DATAHUB = str(Path(sys.executable).parent / "datahub")
CATALOG = """\
partitions: {start: "2017-01-01", end: "2017-01-10"}
sources:
  plant: {kind: demo, seed: 7, cadence: 1m, schedule: off}
series:
  - {entity: "urn:demo:plant1", attribute: output, source: plant, cadence: 1m}
"""
BODY = {"series": [{"entity_id": "urn:demo:plant1", "attribute": "output"}], "start_time": "2017-01-02T00:00:00Z",
        "end_time": "2017-01-02T06:00:00Z", "resolution": "1m"}
REQUESTS = 40


@pytest.mark.integration
@pytest.mark.slow
def test_two_workers_answer_count_and_record_every_request_once(tmp_path: Path) -> None:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAHUB_", "DAGSTER_", "S3_", "PROMETHEUS"))}
    env |= {"DATAHUB_CATALOG": str(tmp_path / "catalog.yaml"), "DATAHUB_LAKE": str(tmp_path / "lake"),
            "DAGSTER_HOME": str(tmp_path / "home"), "DATAHUB_LINEAGE_FLUSH_SECONDS": "0.5"}
    subprocess.run([DATAHUB, "materialize", "--partition", "2017-01-01..2017-01-02"], env=env, cwd=tmp_path,
                   check=True, capture_output=True, timeout=300)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([DATAHUB, "serve", "--port", str(port), "--workers", "2"], env=env, cwd=tmp_path,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: httpx.post(url + "/api/datahub/timeseries/align", json=BODY,
                                                         timeout=60), range(REQUESTS)))
        failed = [a for a in answers if a.status_code != 200]
        assert not failed, f"{failed[0].status_code} {failed[0].text}; the server said:\n{log.read_text()[-6000:]}"
        rows = len(answers[0].json()["timestamps"])
        metrics = httpx.get(url + "/metrics", timeout=10).text
        served = float(re.search(r'^datahub_rows_served_total\{endpoint="align"\} (\S+)$', metrics, re.M)[1])  # type: ignore[index]
        assert served == REQUESTS * rows  # both workers' counts, summed
        os.environ["DAGSTER_HOME"], old = env["DAGSTER_HOME"], os.environ.get("DAGSTER_HOME")
        try:
            with dg.DagsterInstance.get() as instance:
                key = dg.AssetKey(["ondemand", "align"])
                recorded = 0.0
                until = time.monotonic() + 30
                while recorded < REQUESTS and time.monotonic() < until:
                    time.sleep(0.5)
                    events = instance.fetch_materializations(key, limit=1000).records
                    recorded = sum(e.asset_materialization.metadata["requests"].value  # type: ignore[union-attr,misc]
                                   for e in events)
                assert recorded == REQUESTS, "each request recorded once, by the worker that answered it"
        finally:
            if old is None:
                os.environ.pop("DAGSTER_HOME")
            else:
                os.environ["DAGSTER_HOME"] = old
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_several_workers_count_in_the_ports_own_folder_emptied_at_each_start(tmp_path: Path) -> None:
    """A start never adds a folder: the port's metrics folder in the instance home is reused, emptied."""
    from datahub_assets.cli import api_env

    assert "PROMETHEUS_MULTIPROC_DIR" not in api_env(1, 8000, tmp_path)
    first = Path(api_env(2, 8000, tmp_path)["PROMETHEUS_MULTIPROC_DIR"])
    (first / "counter_123.db").write_bytes(b"an earlier server's counts")
    again = Path(api_env(2, 8000, tmp_path)["PROMETHEUS_MULTIPROC_DIR"])
    assert again == first and list(again.iterdir()) == []
    other = Path(api_env(2, 8001, tmp_path)["PROMETHEUS_MULTIPROC_DIR"])
    assert other != first and other.parent == first.parent == tmp_path / "api-metrics"
