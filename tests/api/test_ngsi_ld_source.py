"""An ngsi_ld source behind the live API: read-through over a paging broker, tenant and @context headers,
forwarded Authorization only where opted in (and such data never written to the lake), a broken broker as a
502 naming the source and series, a hanging one as a 504 within the request's deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from tests.api.conftest import LiveApi, start_api
from tests.resources.sources.ngsi_broker import PATHS, TEMPORAL, Broker

pytestmark = pytest.mark.timeout(180)

DEADLINE = 2.0
CONTEXT = "https://context.example.org/ngsi-context.jsonld"
DAY = datetime(2017, 1, 2, tzinfo=UTC)
CATALOG = """\
partitions: {start: "2017-01-01"}
sources:
  farm:
    kind: ngsi_ld
    url: "BASE"
    ngsild_tenant: openiot
    context: CONTEXT
    retries: 0
  private:
    kind: ngsi_ld
    url: "BASE/ngsi-ld/v1"
    forward_headers: [Authorization]
  stuck:
    kind: ngsi_ld
    url: "HANG"
    timeout: 60s
series:
  - {entity: "urn:ngsi-ld:Device:1", attribute: temperature, source: farm, cadence: 1h}
  - {entity: "urn:ngsi-ld:Device:a/b?c", attribute: flow, source: private, cadence: 1h}
  - {entity: "urn:ngsi-ld:Device:9", attribute: level, source: stuck, cadence: 1h}
"""


class Hanging(ThreadingHTTPServer):
    """A broker that never answers (until released)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Hang)
        self.release = threading.Event()
        self.count = 0


class _Hang(BaseHTTPRequestHandler):
    server: Hanging

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.count += 1
        self.server.release.wait(60)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture(scope="module")
def broker() -> Iterator[tuple[Broker, HTTPServer]]:
    broker = Broker(limit=5)
    hours = [DAY - timedelta(days=1) + timedelta(hours=h) for h in range(24 * 4)]
    broker.add("urn:ngsi-ld:Device:1", "temperature", [(t, t.hour + 0.5) for t in hours])
    broker.add("urn:ngsi-ld:Device:a/b?c", "flow", [(t, t.hour * 2.0) for t in hours])
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    server.expect_request(PATHS, method="GET").respond_with_handler(broker.handle)
    yield broker, server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture(scope="module")
def hanging() -> Iterator[Hanging]:
    server = Hanging()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, broker: tuple[Broker, HTTPServer], hanging: Hanging,
        api_instance: dg.DagsterInstance) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("ngsi")
    path = root / "catalog.yaml"
    base = broker[1].url_for("/").rstrip("/")
    path.write_text(CATALOG.replace("BASE", base).replace("CONTEXT", CONTEXT)
                    .replace("HANG", f"http://127.0.0.1:{hanging.server_address[1]}"))
    yield from start_api(root, path, api_instance, request_timeout=DEADLINE)


def align(api: LiveApi, entity: str, attribute: str, day: datetime = DAY,
          headers: dict[str, str] | None = None) -> Any:
    return api.client.post("/api/datahub/timeseries/align", headers=headers or {}, json={
        "series": [{"entity_id": entity, "attribute": attribute}],
        "start_time": day.isoformat(), "end_time": (day + timedelta(days=1)).isoformat(), "resolution": "1h",
        "method": "mean"})


def test_read_through_pages_the_broker_and_stores_the_day(api: LiveApi, broker: tuple[Broker, HTTPServer]) -> None:
    asked = broker[0].asked
    before = len(asked)
    answer = align(api, "urn:ngsi-ld:Device:1", "temperature")
    assert answer.status_code == 200, answer.text
    assert answer.json()["value_0"] == [h + 0.5 for h in range(24)]
    sent = asked[before:]
    assert len(sent) == 5, "24 readings, 5 per page"
    assert [s["query"]["timeAt"] for s in sent][:2] == ["2017-01-02T00:00:00Z", "2017-01-02T04:00:00.000001Z"]
    assert all(s["headers"]["Ngsild-Tenant"] == "openiot" and CONTEXT in s["headers"]["Link"] for s in sent)
    assert all("lastN" not in s["query"] for s in sent)
    assert (api.root / "lake/default/raw/farm/urn_ngsi_ld_device_1_temperature/date=2017-01-02/data.parquet"
            ).is_file()


def test_forwarded_authorization_reaches_only_the_opted_in_source_and_never_the_lake(
    api: LiveApi, broker: tuple[Broker, HTTPServer]
) -> None:
    asked = broker[0].asked
    headers = {"Authorization": "Bearer token-of-the-caller"}
    before = len(asked)
    answer = align(api, "urn:ngsi-ld:Device:a/b?c", "flow", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["value_0"][:3] == [0.0, 2.0, 4.0]
    sent = asked[before:]
    assert sent and all(s["headers"].get("Authorization") == "Bearer token-of-the-caller" for s in sent)
    assert all(s["raw"].startswith(f"{TEMPORAL}urn%3Angsi-ld%3ADevice%3Aa%2Fb%3Fc?attrs=flow&") for s in sent)
    assert all("Ngsild-Tenant" not in s["headers"] for s in sent), "no ngsild_tenant: the default tenant"
    assert not (api.root / "lake/default/raw/private").exists(), "caller data serves that request only"

    before = len(asked)
    assert align(api, "urn:ngsi-ld:Device:1", "temperature", DAY + timedelta(days=1),
                 headers=headers).status_code == 200
    sent = asked[before:]
    assert sent and all("Authorization" not in s["headers"] for s in sent)


def test_a_broken_broker_is_a_502_naming_the_source_and_series(
    api: LiveApi, broker: tuple[Broker, HTTPServer]
) -> None:
    server = broker[1]
    server.clear_all_handlers()
    server.expect_request(PATHS).respond_with_data('{"temperature": {"type": "Property", "values": [["hot", '
                                                   '"2017-01-05T00:00:00Z"]]}}', content_type="application/json")
    try:
        answer = align(api, "urn:ngsi-ld:Device:1", "temperature", DAY + timedelta(days=3))
        assert answer.status_code == 502
        error = answer.json()["error"]
        assert error.startswith("source 'farm': series 'urn:ngsi-ld:Device:1.temperature': page 1: ")
        assert "is not a number" in error
        for leak in ["timeAt", "ngsi-ld/v1", "openiot", "context.example.org", str(server.port)]:
            assert leak not in error
        assert not (api.root / "lake/default/raw/farm/urn_ngsi_ld_device_1_temperature/date=2017-01-05").exists()
    finally:
        server.clear_all_handlers()
        server.expect_request(PATHS, method="GET").respond_with_handler(broker[0].handle)


def test_a_hanging_broker_is_a_504_naming_the_source_within_the_deadline(api: LiveApi, hanging: Hanging) -> None:
    began = time.monotonic()
    answer = align(api, "urn:ngsi-ld:Device:9", "level")
    took = time.monotonic() - began
    assert answer.status_code == 504
    assert "source 'stuck'" in answer.json()["error"]
    assert hanging.count >= 1
    assert DEADLINE * 0.8 <= took < DEADLINE + 3, f"answered after {took:.1f} s"
    health = api.client.get("/health", timeout=5)
    assert health.status_code == 200, "the API stays up while a broker hangs"
