"""The `datahub` console script, as a user runs it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import polars as pl
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATAHUB = str(Path(sys.executable).parent / "datahub")


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAHUB_", "DAGSTER_", "S3_"))}
    env |= {"DAGSTER_HOME": str(tmp_path / "home"), "DATAHUB_LAKE": str(tmp_path / "lake")}
    return subprocess.run([DATAHUB, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_validate_reports_the_demo_catalog(tmp_path: Path) -> None:
    result = run(["validate"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok (2 sources, 7 series, 2 grids, 2 exports)" in result.stdout


def test_validate_names_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: demo, cadence: often}\n")
    result = run(["validate", "--catalog", str(bad)], tmp_path)
    assert result.returncode == 1
    assert f"{bad}:3: sources.a.cadence: 'often' is not a duration" in result.stderr


def test_materialize_a_selection_for_a_day_range(tmp_path: Path) -> None:
    result = run(["materialize", "--select", "key:raw/plant/*", "--partition", "2017-01-01..2017-01-02"], tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    frame = pl.read_parquet(tmp_path / "lake/default/raw/plant/urn_demo_plant1_output/date=2017-01-02/data.parquet")
    assert frame.height == 1440
    assert not (tmp_path / "lake/default/grid").exists()
    os.environ["DAGSTER_HOME"], old = str(tmp_path / "home"), os.environ.get("DAGSTER_HOME")
    try:
        with dg.DagsterInstance.get() as instance:
            key = dg.AssetKey(["raw", "plant", "urn_demo_plant1_output"])
            assert instance.get_materialized_partitions(key) == {"2017-01-01", "2017-01-02"}
    finally:
        if old is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = old
    bad = run(["materialize", "--partition", "2017-01-05..2017-01-01"], tmp_path)
    assert bad.returncode == 2 and "ends before it starts" in bad.stderr


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.integration
def test_up_serves_ui_and_api_and_stops_both(tmp_path: Path) -> None:
    ui, api = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAHUB_", "DAGSTER_", "S3_"))}
    env |= {"DAGSTER_HOME": str(tmp_path / "home"), "DATAHUB_LAKE": str(tmp_path / "lake")}
    proc = subprocess.Popen([DATAHUB, "up", "--port", str(ui), "--api-port", str(api)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        ready = {"ui": False, "api": False}
        while not all(ready.values()) and time.monotonic() < deadline and proc.poll() is None:
            for name, url in (("ui", f"http://127.0.0.1:{ui}/server_info"), ("api", f"http://127.0.0.1:{api}/health")):
                with contextlib.suppress(httpx.HTTPError):
                    ready[name] = ready[name] or httpx.get(url, timeout=2).status_code == 200
            time.sleep(0.5)
        assert ready == {"ui": True, "api": True}
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=40)
        for port in (ui, api):
            with pytest.raises(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
