"""A running API (uvicorn on 127.0.0.1, a free port) over a test catalog with two tenants."""

from __future__ import annotations

import socket
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import pytest
import uvicorn

from api.app import create_app
from datahub_assets.definitions import build_definitions
from datahub_assets.materialize import materialize_partitions
from resources.catalog import Catalog, load_catalog
from resources.settings import DEMO_CATALOG, Settings

CATALOG = """\
partitions: {start: "2017-01-01"}
sources:
  tetouan:
    kind: file
    schedule: off
    path: TETOUAN
    timestamp_column: DateTime
    timestamp_format: "%m/%d/%y %H:%M"
  plant: {kind: demo, seed: 7, cadence: 1m, schedule: off}
  meters: {kind: file, path: meters.csv, timestamp_column: epoch, timestamp_unit: s, schedule: off}
  rival: {kind: demo, tenant: acme, seed: 9, cadence: 10m}
series:
  - {entity: "urn:tetouan:zone1", attribute: power, source: tetouan, column: Zone 1 Power Consumption, unit: kW,
     cadence: 10m}
  - {entity: "urn:tetouan:zone2", attribute: power, source: tetouan, column: Zone 2 Power Consumption, unit: kW,
     cadence: 10m}
  - {entity: "urn:tetouan:weather", attribute: temperature, source: tetouan, column: Temperature, unit: degC,
     cadence: 10m}
  - {entity: "urn:demo:plant1", attribute: output, source: plant, unit: kW, cadence: 1m}
  - {entity: "urn:demo:plant1", attribute: temperature, source: plant, unit: degC, cadence: 1m}
  - {entity: "urn:meter:7", attribute: energy, source: meters, column: kwh, unit: kWh, cadence: 15m}
  - {entity: "urn:acme:secret", attribute: output, source: rival, unit: kW, cadence: 10m}
grids:
  - {id: city_hourly, series: [urn:tetouan:zone1.power, urn:tetouan:zone2.power], resolution: 1h, method: mean}
"""

MATERIALIZED = ["2017-01-01", "2017-01-02", "2017-01-03"]


@dataclass
class LiveApi:
    url: str
    client: httpx.Client
    catalog: Catalog
    settings: Settings
    instance: dg.DagsterInstance
    root: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Until the API process at `url` answers /health with 200 (it must stay alive meanwhile)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.2)


def write_catalog(root: Path, text: str = CATALOG) -> Path:
    tetouan = DEMO_CATALOG.parent / "tetouan_2017-01-01_14.csv"
    # Fractional epoch seconds: a source whose stamps are floats, beside the others' datetimes.
    rows = "".join(f"{1483228800 + i * 900 + 0.5},{i * 1.5}\n" for i in range(96 * 14))
    (root / "meters.csv").write_text("epoch,kwh\n" + rows)
    path = root / "catalog.yaml"
    path.write_text(textwrap.dedent(text).replace("TETOUAN", str(tetouan)))
    return path


@contextmanager
def serve(app: object, port: int) -> Iterator[str]:
    """uvicorn in a thread on 127.0.0.1; stopped (lifespan shutdown included) when the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def start_api(root: Path, catalog_path: Path, instance: dg.DagsterInstance, **overrides: object) -> Iterator[LiveApi]:
    port = free_port()
    overrides.setdefault("external_url", f"http://127.0.0.1:{port}")
    overrides.setdefault("lake", str(root / "lake"))
    overrides.setdefault("exports_dir", root / "exports")
    overrides.setdefault("lineage_flush_seconds", 0.3)
    settings = Settings(catalog=catalog_path, **overrides)  # type: ignore[arg-type]
    catalog = load_catalog(catalog_path)
    with serve(create_app(settings=settings, catalog=catalog, instance=instance), port) as url, \
            httpx.Client(base_url=url, timeout=60) as client:
        yield LiveApi(url, client, catalog, settings, instance, root)


@pytest.fixture(scope="session")
def api_instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, api_instance: dg.DagsterInstance) -> Iterator[LiveApi]:
    """The API over a lake where 2017-01-01..03 are materialized (later days come by read-through)."""
    root = tmp_path_factory.mktemp("api")
    path = write_catalog(root)
    defs = build_definitions(load_catalog(path), Settings(lake=str(root / "lake")))
    assert materialize_partitions("key:raw/*", MATERIALIZED, defs=defs, instance=api_instance,
                                  echo=lambda _: None) == []
    yield from start_api(root, path, api_instance)
