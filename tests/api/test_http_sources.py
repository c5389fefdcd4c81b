"""HTTP sources behind the API: forwarded headers, caller data never shared, no caller-chosen requests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.api.conftest import LiveApi, start_api

ANY_READING = re.compile(r"^/(readings|public)/.*")
CATALOG = """\
partitions: {start: "2017-01-01"}
sources:
  platform:
    kind: http
    url: "BASE/readings/{entity}/{attribute}?from={start}&to={end}"
    records: data.items
    forward_headers: [Authorization, X-Tenant-ID]
  public:
    kind: http
    url: "BASE/public/{entity}?from={start_epoch}&to={end_epoch}"
    timestamp_field: t
    value_field: v
series:
  - {entity: "urn:ngsi-ld:Sensor:1", attribute: temp, source: platform, cadence: 1h}
  - {entity: "station/7", attribute: flow, source: public, cadence: 1h}
"""


def readings(request: Request) -> Response:
    start = datetime.fromisoformat(request.args["from"].replace("Z", "+00:00")) if "readings" in request.path \
        else datetime.fromtimestamp(int(request.args["from"]), UTC)
    hours = [start + timedelta(hours=h) for h in range(24)]
    if "readings" in request.path:
        body = {"data": {"items": [{"ts": t.isoformat(), "value": t.hour + 0.5} for t in hours]}}
    else:
        body = [{"t": t.timestamp(), "v": t.hour * 2.0} for t in hours]
    return Response(json.dumps(body), content_type="application/json")


@pytest.fixture(scope="module")
def upstream() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    server.expect_request(ANY_READING, method="GET").respond_with_handler(readings)
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture(scope="module")
def http_api(tmp_path_factory: pytest.TempPathFactory, upstream: HTTPServer,
             api_instance: dg.DagsterInstance) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("http")
    path = root / "catalog.yaml"
    path.write_text(CATALOG.replace("BASE", upstream.url_for("").rstrip("/")))
    yield from start_api(root, path, api_instance)


def raw_path(request: Request) -> str:
    """The request target as sent, before the server decodes it."""
    return str(request.environ.get("RAW_URI") or request.environ["REQUEST_URI"])


def align(api: LiveApi, entity: str, attribute: str, headers: dict[str, str] | None = None,
          **extra: object) -> object:
    return api.client.post("/api/datahub/timeseries/align", headers=headers or {}, json={
        "series": [{"entity_id": entity, "attribute": attribute, **extra}],
        "start_time": "2017-01-02T00:00:00Z", "end_time": "2017-01-03T00:00:00Z", "resolution": "1h"})


def test_authorization_and_tenant_reach_only_opted_in_sources(http_api: LiveApi, upstream: HTTPServer) -> None:
    upstream.clear_log()
    headers = {"Authorization": "Bearer token-of-the-caller", "X-Tenant-ID": "default"}
    answer = align(http_api, "urn:ngsi-ld:Sensor:1", "temp", headers)
    assert answer.status_code == 200  # type: ignore[attr-defined]
    assert answer.json()["value_0"][:3] == [0.5, 1.5, 2.5]  # type: ignore[attr-defined]
    sent = [req for req, _ in upstream.log]
    assert sent and all(r.headers.get("Authorization") == "Bearer token-of-the-caller" for r in sent)
    assert all(r.headers.get("X-Tenant-ID") == "default" for r in sent)
    assert raw_path(sent[0]).startswith("/readings/urn%3Angsi-ld%3ASensor%3A1/temp?")
    # Data read with the caller's credentials serves that request only: nothing reaches the shared lake.
    assert not (http_api.root / "lake/default/raw/platform").exists()

    upstream.clear_log()
    assert align(http_api, "station/7", "flow", headers).status_code == 200  # type: ignore[attr-defined]
    sent = [req for req, _ in upstream.log]
    assert sent and all("Authorization" not in r.headers and "X-Tenant-ID" not in r.headers for r in sent)
    assert raw_path(sent[0]).startswith("/public/station%2F7?")  # one path segment, never a new path
    assert (http_api.root / "lake/default/raw/public/station_7_flow/date=2017-01-02/data.parquet").is_file()


@pytest.mark.parametrize("series", [
    {"entity_id": "urn:ngsi-ld:Sensor:1", "attribute": "temp", "source": "nope"},
    {"entity_id": "http://127.0.0.1:9/steal", "attribute": "temp"},
    {"entity_id": "../../admin", "attribute": "temp", "source": "platform"},
    {"entity_id": "urn:ngsi-ld:Sensor:1", "attribute": "temp?x=1", "source": "platform"},
])
def test_no_request_field_makes_the_server_fetch(http_api: LiveApi, upstream: HTTPServer,
                                                 series: dict[str, str]) -> None:
    upstream.clear_log()
    answer = http_api.client.post("/api/datahub/timeseries/align", json={
        "series": [series], "start_time": "2017-01-05T00:00:00Z", "end_time": "2017-01-06T00:00:00Z"})
    assert answer.status_code == 404 and "error" in answer.json()
    assert upstream.log == []


def test_failing_upstream_is_a_502_naming_the_source(http_api: LiveApi, upstream: HTTPServer) -> None:
    upstream.clear_all_handlers()
    upstream.expect_request(re.compile(r"^/public/.*")).respond_with_data("nope", status=404)
    try:
        answer = http_api.client.post("/api/datahub/timeseries/align", json={
            "series": [{"entity_id": "station/7", "attribute": "flow"}],
            "start_time": "2017-02-05T00:00:00Z", "end_time": "2017-02-06T00:00:00Z"})
        assert answer.status_code == 502
        error = answer.json()["error"]
        assert "source 'public'" in error and "404" in error and "from=" not in error
        metrics = http_api.client.get("/metrics").text
        assert 'datahub_source_errors_total{source="public",tenant="default"}' in metrics
    finally:
        upstream.clear_all_handlers()
        upstream.expect_request(ANY_READING, method="GET").respond_with_handler(readings)
