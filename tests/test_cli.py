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


def run(args: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAHUB_", "DAGSTER_", "S3_"))}
    env |= {"DAGSTER_HOME": str(tmp_path / "home"), "DATAHUB_LAKE": str(tmp_path / "lake"), **extra}
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


@pytest.mark.parametrize(("source", "message"), [
    ("{kind: http, url: 'http://h/{entity}/{when}'}", "sources.a.url: has an unknown placeholder {when}"),
    ("{kind: http, url: 'http://{entity}.h/x'}", "sources.a.url: takes placeholders in its path and query only"),
    ("{kind: http, url: 'http://h/x', next: n, page_param: p}", "sources.a.next: cannot be given with 'page_param'"),
    ("{kind: 'json:dumps'}", "sources.a.kind: 'json:dumps' is not a subclass of resources.sources.base.Source"),
])
def test_validate_refuses_what_a_reader_would_refuse_without_a_traceback(tmp_path: Path, source: str,
                                                                         message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"partitions: {{start: '2017-01-01'}}\nsources:\n  a: {source}\n")
    result = run(["validate", "--catalog", str(bad)], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{bad}:3: {message}" in result.stderr


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
    outside = run(["materialize", "--partition", "2017-01-14..2017-01-15"], tmp_path)
    assert outside.returncode == 2 and "the catalog's partitions are 2017-01-01..2017-01-14" in outside.stderr


def test_materialize_prints_one_line_per_partition_and_nothing_else(tmp_path: Path) -> None:
    """No Dagster event log, no warning of the project's own making, no migration progress on a second run."""
    first = run(["materialize", "--select", "key:raw/plant/*", "--partition", "2017-01-01"], tmp_path)
    assert first.returncode == 0, first.stderr
    result = run(["materialize", "--select", "key:raw/plant/* or key:raw/tetouan/urn_tetouan_zone1_power",
                  "--partition", "2017-01-12..2017-01-14"], tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [["2017-01-12", "ok"], ["2017-01-13", "ok"],
                                                          ["2017-01-14", "ok"]]
    assert all(" 3 steps " in line and " run " in line for line in lines[:3])
    assert lines[3:] == ["3 partition(s) materialized"]
    assert result.stderr == ""


def test_materialize_all_covers_the_catalogs_partitions(tmp_path: Path) -> None:
    result = run(["materialize", "--select", "key:raw/plant/urn_demo_plant1_output", "--partition", "all"], tmp_path)
    assert result.returncode == 0, result.stderr
    days = [line.split()[0] for line in result.stdout.splitlines()[:-1]]
    assert days == [f"2017-01-{d:02d}" for d in range(1, 15)]
    stored = sorted(p.name for p in (tmp_path / "lake/default/raw/plant/urn_demo_plant1_output").iterdir())
    assert stored == [f"date={d}" for d in days]


def test_a_failing_partition_names_its_step(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("partitions: {start: '2024-01-01', end: '2024-01-02'}\nsources:\n"
                       "  f: {kind: file, path: missing.csv, timestamp_column: ts}\n"
                       "series:\n  - {entity: e, attribute: a, source: f}\n")
    result = run(["materialize", "--partition", "2024-01-01"], tmp_path, DATAHUB_CATALOG=str(catalog))
    assert result.returncode == 1
    head, detail = result.stdout.splitlines()[:2]
    assert head.startswith("2024-01-01  FAILED  1 steps")
    assert detail.startswith("  raw__f__e_a: ") and "no file matches its 'path'" in detail
    assert "1 of 1 partitions failed: 2024-01-01" in result.stderr


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
    out = (tmp_path / "up.out").open("w+")
    proc = subprocess.Popen([DATAHUB, "up", "--port", str(ui), "--api-port", str(api)], cwd=tmp_path, env=env,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        ready = {"ui": False, "api": False}
        while not all(ready.values()) and time.monotonic() < deadline and proc.poll() is None:
            for name, url in (("ui", f"http://127.0.0.1:{ui}/server_info"), ("api", f"http://127.0.0.1:{api}/health")):
                with contextlib.suppress(httpx.HTTPError):
                    ready[name] = ready[name] or httpx.get(url, timeout=2).status_code == 200
            time.sleep(0.5)
        assert ready == {"ui": True, "api": True}
        while "ready:" not in (tmp_path / "up.out").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=40)
        printed = (tmp_path / "up.out").read_text()
        assert f"ready: Dagster UI http://127.0.0.1:{ui}   API http://127.0.0.1:{api}/docs" in printed
        assert "Warning" not in printed and "Updating" not in printed, printed
        for port in (ui, api):
            with pytest.raises(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
