"""Memory stays bounded under the largest answers the limits allow: ten at once, in a real server process."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
RSS_BOUND_MIB = 1536  # the README's figure for the default DATAHUB_MAX_BYTES_IN_FLIGHT (512 MiB)
CATALOG = """\
partitions: {start: "2017-01-01"}
sources:
  plant: {kind: demo, seed: 7, cadence: 1m}
series:
  - {entity: "urn:demo:plant1", attribute: output, source: plant, cadence: 1m}
  - {entity: "urn:demo:plant1", attribute: temperature, source: plant, cadence: 1m}
"""
# The largest answer the default limits accept: 2 series x 2,500,000 points = DATAHUB_MAX_CELLS.
BIGGEST = {"series": [{"entity_id": "urn:demo:plant1", "attribute": "output"},
                      {"entity_id": "urn:demo:plant1", "attribute": "temperature"}],
           "start_time": "2017-01-02T00:00:00Z", "end_time": "2017-01-05T00:00:00Z", "resolution": 2_500_000}


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAHUB_", "DAGSTER_", "S3_"))}
    env |= {"DATAHUB_CATALOG": str(tmp_path / "catalog.yaml"), "DATAHUB_LAKE": str(tmp_path / "lake"),
            "DAGSTER_HOME": str(tmp_path / "home"), "DATAHUB_EXPORTS_DIR": str(tmp_path / "exports")}
    subprocess.run([str(Path(sys.executable).parent / "datahub"), "materialize", "--select", "*", "--partition",
                    "2017-01-01..2017-01-05"], env=env, cwd=tmp_path, check=True, capture_output=True, timeout=300)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def fetch(url: str) -> tuple[int, int]:
    """(status, bytes) of one maximal JSON answer, read as a stream (the client never holds it)."""
    size = 0
    with httpx.stream("POST", url + "/api/datahub/timeseries/align", json=BIGGEST, timeout=120) as answer:
        for chunk in answer.iter_raw():
            size += len(chunk)
    return answer.status_code, size


@pytest.mark.integration
@pytest.mark.slow
def test_ten_maximal_requests_at_once_stay_under_the_bound(server: tuple[str, int]) -> None:
    url, pid = server
    base, _ = peak_rss_mib(pid)
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(fetch, url) for _ in range(10)]
        probes = []
        while not all(f.done() for f in futures):
            began = time.monotonic()
            assert httpx.get(url + "/health", timeout=5).status_code == 200
            probes.append(time.monotonic() - began)
            time.sleep(0.2)
        results = [f.result() for f in futures]
    _, peak = peak_rss_mib(pid)
    print(f"\nRSS start {base:.0f} MiB, peak {peak:.0f} MiB, statuses {sorted(s for s, _ in results)}, "
          f"slowest health {max(probes) * 1000:.0f} ms")
    ok = [size for status, size in results if status == 200]
    assert {status for status, _ in results} <= {200, 503} and len(ok) >= 3, results
    assert min(ok) > 80_000_000  # each a whole 5,000,000-cell JSON answer
    assert max(probes) < 1.0, max(probes)
    assert peak < RSS_BOUND_MIB, f"peak RSS {peak:.0f} MiB (at start {base:.0f} MiB)"
