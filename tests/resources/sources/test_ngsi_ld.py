"""The ngsi_ld source against a local NGSI-LD broker on 127.0.0.1 (pytest-httpserver answering in the spec's
shapes): both temporal representations, 206 + Content-Range paging, tenant and @context headers, forwarded
headers, retries through the shared transport, bad payloads, percent-encoding, discovery, catalog checks and
an end-to-end run through the assets."""

from __future__ import annotations

import logging
import re
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from resources import deadline
from resources.catalog import CatalogError, load_catalog
from resources.registry import make_resources, source_key
from resources.settings import Settings
from resources.sources import transport as transport_module
from resources.sources.base import FRAME_SCHEMA, SeriesRef, SourceError, SourceTimeout
from resources.sources.kinds import kind_class
from resources.sources.ngsi_ld import NgsiLdSource, content_range_end
from tests.resources.sources.ngsi_broker import PATHS, TEMPORAL, Broker, iso

pytestmark = pytest.mark.timeout(120)

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 1, 2, tzinfo=UTC)
DEVICE = "urn:ngsi-ld:Device:1"
SERIES = SeriesRef(DEVICE, "temperature", "temperature")
CONTEXT = "https://context.example.org/ngsi-context.jsonld"


def hour(h: float) -> datetime:
    return START + timedelta(hours=h)


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff sleeps are recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(transport_module, "_sleep", recorded.append)
    return recorded


@pytest.fixture
def broker(httpserver: HTTPServer) -> Broker:
    """A broker holding DEVICE's temperature every hour of 2024-01-01 (value = hour + 0.5)."""
    broker = Broker()
    broker.add(DEVICE, "temperature", [(hour(h), h + 0.5) for h in range(24)])
    httpserver.expect_request(PATHS, method="GET").respond_with_handler(broker.handle)
    return broker


@pytest.fixture
def make(httpserver: HTTPServer) -> Iterator[Any]:
    """`make(**options)`: an NgsiLdSource named `broker` on the test server; closed afterwards."""
    made: list[NgsiLdSource] = []

    def build(**options: Any) -> NgsiLdSource:
        options.setdefault("url", httpserver.url_for("/").rstrip("/"))
        source = NgsiLdSource(name="broker", **options)
        made.append(source)
        return source

    yield build
    for source in made:
        source.close()


def read(source: NgsiLdSource, series: SeriesRef = SERIES, **kw: Any) -> pl.DataFrame:
    return source.read(series, start=kw.pop("start", START), end=kw.pop("end", END), **kw)


def temporal(broker: Broker) -> list[dict[str, Any]]:
    return [r for r in broker.asked if r["raw"].startswith(TEMPORAL)]


# -- the request and both shapes ---------------------------------------------------------------------------


def test_the_temporal_request_and_the_temporal_values_shape(broker: Broker, make: Any) -> None:
    frame = read(make())
    assert frame.schema == FRAME_SCHEMA
    assert frame["ts"].to_list() == [hour(h) for h in range(24)]
    assert frame["value"].to_list() == [h + 0.5 for h in range(24)]
    (asked,) = broker.asked
    assert asked["raw"] == (
        "/ngsi-ld/v1/temporal/entities/urn%3Angsi-ld%3ADevice%3A1?attrs=temperature&timerel=between"
        "&timeAt=2024-01-01T00%3A00%3A00Z&endTimeAt=2024-01-02T00%3A00%3A00Z&options=temporalValues"
    )
    assert asked["headers"]["Accept"] == "application/json"
    assert "Ngsild-Tenant" not in asked["headers"] and "Link" not in asked["headers"]


def test_the_normalized_shape_and_a_single_instance_object(broker: Broker, make: Any) -> None:
    source = make(temporal_values=False)
    assert read(source)["value"].to_list() == [h + 0.5 for h in range(24)]
    assert "options" not in broker.asked[0]["query"], "normalized: no options parameter"
    broker.single = True
    one = read(source, start=hour(5), end=hour(6))
    assert one["ts"].to_list() == [hour(5)] and one["value"].to_list() == [5.5]


def test_a_url_ending_in_the_api_prefix_is_the_same_base(broker: Broker, make: Any, httpserver: HTTPServer) -> None:
    read(make(url=httpserver.url_for("/ngsi-ld/v1/")))
    assert broker.asked[0]["raw"].startswith("/ngsi-ld/v1/temporal/entities/urn%3Angsi-ld%3ADevice%3A1?")


def test_values_null_deleted_wrapped_and_numeric_strings(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request(f"{TEMPORAL}{DEVICE}").respond_with_json({"id": DEVICE, "temperature": [
        {"type": "Property", "value": 1, "observedAt": "2024-01-01T00:00:00Z"},
        {"type": "Property", "value": None, "observedAt": "2024-01-01T01:00:00+01:00"},  # = 00:00 UTC
        {"type": "Property", "value": "urn:ngsi-ld:null", "observedAt": "2024-01-01T02:00:00.250Z"},
        {"type": "Property", "value": {"@value": 2.5, "@type": "xsd:double"}, "observedAt": "2024-01-01T03:00:00"},
        {"type": "Property", "value": " -4e1 ", "observedAt": "2024-01-01T04:00:00Z"},
    ]})
    frame = read(make(temporal_values=False))
    assert frame["ts"].to_list() == [hour(0), hour(0), hour(2) + timedelta(milliseconds=250), hour(3), hour(4)]
    assert frame["value"].to_list() == [1.0, None, None, 2.5, -40.0]


def test_several_datasets_in_the_simplified_shape_and_rows_outside_the_window(
    httpserver: HTTPServer, make: Any
) -> None:
    httpserver.expect_request(f"{TEMPORAL}{DEVICE}").respond_with_json({"id": DEVICE, "temperature": [
        {"type": "Property", "datasetId": "urn:a",
         "values": [[1, iso(START - timedelta(seconds=1))], [2, iso(START)]]},
        {"type": "Property", "datasetId": "urn:b",
         "values": [[3, iso(END - timedelta(microseconds=1))], [4, iso(END)]]},
    ]})
    frame = read(make())
    assert frame["ts"].to_list() == [START, END - timedelta(microseconds=1)]
    assert frame["value"].to_list() == [2.0, 3.0]


def test_a_missing_attribute_is_no_readings_not_an_error(broker: Broker, make: Any) -> None:
    frame = read(make(), SeriesRef(DEVICE, "humidity", "humidity"))
    assert frame.schema == FRAME_SCHEMA and frame.height == 0
    assert broker.asked[0]["query"]["attrs"] == "humidity"


def test_the_column_is_the_temporal_property_asked_for(broker: Broker, make: Any) -> None:
    frame = read(make(), SeriesRef(DEVICE, "temp", "temperature"))
    assert frame.height == 24 and broker.asked[0]["query"]["attrs"] == "temperature"


# -- paging ------------------------------------------------------------------------------------------------


def test_206_pages_are_followed_from_just_past_each_range_end(broker: Broker, make: Any) -> None:
    broker.limit = 5
    frame = read(make())
    assert frame["value"].to_list() == [h + 0.5 for h in range(24)], "every instance once, in order"
    asked = temporal(broker)
    assert len(asked) == 5, "24 instances, 5 per page"
    assert [a["query"]["timeAt"] for a in asked] == [
        "2024-01-01T00:00:00Z", "2024-01-01T04:00:00.000001Z", "2024-01-01T09:00:00.000001Z",
        "2024-01-01T14:00:00.000001Z", "2024-01-01T19:00:00.000001Z",
    ]
    assert len({a["raw"] for a in asked}) == len(asked), "no page asked twice"
    for a in asked:
        assert a["query"]["endTimeAt"] == "2024-01-02T00:00:00Z"
        assert "lastN" not in a["query"] and "limit" not in a["query"] and "pageSize" not in a["query"]


def test_a_206_without_a_readable_content_range_or_that_does_not_advance_is_an_error(
    httpserver: HTTPServer, make: Any
) -> None:
    body = {"id": DEVICE, "temperature": {"type": "Property", "values": [[1, iso(hour(1))]]}}
    httpserver.expect_request(f"{TEMPORAL}a").respond_with_json(body, status=206)
    with pytest.raises(SourceError, match=r"page 1: 206 Partial Content without a readable 'Content-Range"):
        read(make(), SeriesRef("a", "temperature", "temperature"))
    httpserver.expect_request(f"{TEMPORAL}b").respond_with_json(
        body, status=206, headers={"Content-Range": f"date-time {iso(START)}-{iso(START - timedelta(hours=1))}/*"})
    with pytest.raises(SourceError, match="page 1: the Content-Range of a 206 does not move forward") as info:
        read(make(), SeriesRef("b", "temperature", "temperature"))
    assert not info.value.retryable


def test_a_range_reaching_the_window_end_ends_the_paging(httpserver: HTTPServer, make: Any) -> None:
    last = END - timedelta(microseconds=1)
    httpserver.expect_request(f"{TEMPORAL}{DEVICE}").respond_with_json(
        {"id": DEVICE, "temperature": {"type": "Property", "values": [[1, iso(last)]]}},
        status=206, headers={"Content-Range": f"date-time {iso(START)}-{iso(last)}/*"})
    assert read(make())["value"].to_list() == [1.0]
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(("header", "end"), [
    ("date-time 2024-01-01T00:00:00Z-2024-01-01T05:00:00Z/*", hour(5)),
    ("date-time 2024-01-01T00:00:00.5Z-2024-01-01T05:00:00.123456Z/100", hour(5) + timedelta(microseconds=123456)),
    ("DATE-TIME 2024-01-01T01:00:00+01:00-2024-01-01T04:00:00-01:00 / *", hour(5)),
    ("date-time 2024-01-01T00:00-2024-01-01T05:00/*", hour(5)),  # naive, minutes: UTC
    ("date-time Mon, 01 Jan 2024 00:00:00 GMT-Mon, 01 Jan 2024 05:00:00 GMT/*", hour(5)),
    ("date-time 2024-01-01-2024-01-02/*", END),
    ("bytes 0-499/1234", None),
    ("date-time 2024-01-01T00:00:00Z/*", None),
    ("date-time yesterday-today/*", None),
    ("", None),
    (None, None),
])
def test_content_range_end(header: str | None, end: datetime | None) -> None:
    assert content_range_end(header) == end


# -- headers -----------------------------------------------------------------------------------------------


def test_tenant_and_context_headers(broker: Broker, make: Any) -> None:
    read(make(ngsild_tenant="openiot", context=CONTEXT))
    headers = broker.asked[0]["headers"]
    assert headers["Ngsild-Tenant"] == "openiot"
    assert headers["Link"] == (f'<{CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; '
                               'type="application/ld+json"')


def test_authorization_is_forwarded_only_where_forward_headers_asks(broker: Broker, make: Any) -> None:
    forwarded = {"AUTHORIZATION": "Bearer caller", "X-Tenant-ID": "acme", "Cookie": "c=1"}
    opted_in = make(forward_headers=["Authorization"], headers={"authorization": "static", "X-Static": "s"})
    read(opted_in, forwarded=forwarded)
    read(opted_in)
    read(make(), forwarded=forwarded)
    with_forwarded, without, plain = (a["headers"] for a in broker.asked)
    assert with_forwarded["Authorization"] == "Bearer caller", "a forwarded header wins over a static one"
    assert with_forwarded["X-Static"] == "s"
    assert "X-Tenant-Id" not in with_forwarded and "Cookie" not in with_forwarded
    assert without["Authorization"] == "static"
    assert "Authorization" not in plain and "X-Tenant-Id" not in plain, "no forward_headers: nothing forwarded"


def test_env_var_url_tenant_and_headers_are_resolved(
    broker: Broker, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAHUB_TEST_BROKER", httpserver.url_for("/").rstrip("/"))
    monkeypatch.setenv("DATAHUB_TEST_BROKER_TENANT", "farm7")
    monkeypatch.setenv("DATAHUB_TEST_BROKER_KEY", "k-secret")
    source = NgsiLdSource(name="broker", url=dg.EnvVar("DATAHUB_TEST_BROKER"),
                          ngsild_tenant=dg.EnvVar("DATAHUB_TEST_BROKER_TENANT"),
                          headers={"X-Api-Key": dg.EnvVar("DATAHUB_TEST_BROKER_KEY")})
    assert "k-secret" not in repr(source) and "farm7" not in repr(source)
    with dg.build_resources({"src": source}) as built:
        assert read(built.src).height == 24
        built.src.close()
    try:
        assert read(source).height == 24, "unresolved EnvVars are read from the environment"
    finally:
        source.close()
    for asked in broker.asked:
        assert asked["headers"]["Ngsild-Tenant"] == "farm7" and asked["headers"]["X-Api-Key"] == "k-secret"


# -- failures ----------------------------------------------------------------------------------------------


def test_5xx_then_success_is_retried_by_the_transport(
    broker: Broker, httpserver: HTTPServer, make: Any, waits: list[float]
) -> None:
    httpserver.clear_all_handlers()
    httpserver.expect_oneshot_request(PATHS).respond_with_data("busy", status=503)
    httpserver.expect_oneshot_request(PATHS).respond_with_data("", status=500, headers={"Retry-After": "2"})
    httpserver.expect_request(PATHS).respond_with_handler(broker.handle)
    assert read(make())["value"].to_list() == [h + 0.5 for h in range(24)]
    assert len(httpserver.log) == 3
    assert len(waits) == 2 and 0.5 <= waits[0] <= 1.0 and waits[1] == 2.0, "backoff with jitter, then Retry-After"


def test_5xx_forever_is_a_retryable_error_naming_the_source_and_series(
    httpserver: HTTPServer, make: Any, waits: list[float]
) -> None:
    httpserver.expect_request(PATHS).respond_with_data("down", status=503)
    with pytest.raises(SourceError) as info:
        read(make(retries=2))
    assert info.value.retryable
    assert str(info.value) == ("source 'broker': series 'urn:ngsi-ld:Device:1.temperature': page 1: "
                               "HTTP 503 Service Unavailable after 3 attempt(s)")
    assert len(httpserver.log) == 3 and len(waits) == 2


def test_connection_refused_is_retried_then_retryable(make: Any, waits: list[float]) -> None:
    dead = HTTPServer(host="127.0.0.1", port=0)
    dead.start()
    url = dead.url_for("/").rstrip("/")
    dead.stop()
    with pytest.raises(SourceError, match=r"series 'urn:ngsi-ld:Device:1.temperature': page 1: request failed "
                                          r"\(ConnectError\) after 2 attempt") as info:
        read(make(url=url, retries=1))
    assert info.value.retryable and len(waits) == 1


@pytest.mark.parametrize(("body", "message"), [
    ("{not json", "page 1: the response is not valid JSON"),
    ("[1, 2]", "page 1: the response is not an entity"),
    ('{"temperature": {"type": "Property", "values": [[true, "2024-01-01T00:00:00Z"]]}}',
     "value 1 of 'temperature': the value is not a number"),
    ('{"temperature": [{"type": "Property", "value": "warm", "observedAt": "2024-01-01T00:00:00Z"}]}',
     "instance 1 of 'temperature': the value is not a number"),
    ('{"temperature": {"type": "Relationship", "object": "urn:x", "observedAt": "2024-01-01T00:00:00Z"}}',
     "instance 1 of 'temperature' has no 'value'"),
    ('{"temperature": [{"type": "Property", "value": 1}]}', "instance 1 of 'temperature' has no valid 'observedAt'"),
    ('{"temperature": {"type": "Property", "values": [[1, "noon"]]}}', "has no valid 'observedAt'"),
    ('{"temperature": {"type": "Property", "values": [1, 2]}}', "value 1 of 'temperature' is not a [value, time]"),
    ('{"temperature": {"type": "Property", "values": 3}}', "the 'values' of 'temperature' are not a list"),
    ('{"temperature": ["x"]}', "instance 1 of 'temperature' is not an object"),
])
def test_bad_payloads_are_errors_naming_the_source_and_series(
    httpserver: HTTPServer, make: Any, body: str, message: str
) -> None:
    httpserver.expect_request(PATHS).respond_with_data(body, content_type="application/ld+json")
    with pytest.raises(SourceError) as info:
        read(make())
    assert str(info.value).startswith("source 'broker': series 'urn:ngsi-ld:Device:1.temperature': page 1")
    assert message in str(info.value)
    assert not info.value.retryable


def test_an_unknown_entity_is_an_error_and_messages_carry_no_url_or_header_value(
    broker: Broker, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source = make(headers={"X-Api-Key": "hidden-value"}, ngsild_tenant="tenant-t", context=CONTEXT)
    with pytest.raises(SourceError) as info:
        read(source, SeriesRef("urn:ngsi-ld:Device:nope", "temperature", "temperature"))
    message = str(info.value)
    assert message == "source 'broker': series 'urn:ngsi-ld:Device:nope.temperature': page 1: HTTP 404 Not Found"
    assert not info.value.retryable
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))
    assert "HTTP Request: GET" in ours
    for secret in ["hidden-value", "tenant-t", "context.example.org", "ngsi-ld/v1", "timeAt", "2024-01-01T"]:
        assert secret not in message
        assert secret not in ours, "httpx's request log line is redacted too"


def test_ids_and_attributes_are_percent_encoded_as_one_segment_and_one_value(broker: Broker, make: Any) -> None:
    odd = "urn:ngsi-ld:Device:a/b?c"
    broker.add(odd, "temp&x=1", [(hour(1), 7)])
    frame = read(make(), SeriesRef(odd, "t", "temp&x=1"))
    assert frame["value"].to_list() == [7.0]
    (asked,) = broker.asked
    assert asked["raw"].startswith(
        "/ngsi-ld/v1/temporal/entities/urn%3Angsi-ld%3ADevice%3Aa%2Fb%3Fc?attrs=temp%26x%3D1&")
    assert asked["entity"] == odd and asked["query"]["attrs"] == "temp&x=1"
    for entity, segment in [("../x", "..%2Fx"), ("..", "%2E%2E"), ("http://10.0.0.1/s", "http%3A%2F%2F10.0.0.1%2Fs")]:
        broker.add(entity, "temperature", [])
        read(make(), SeriesRef(entity, "temperature", "temperature"))
        assert broker.asked[-1]["raw"].startswith(f"/ngsi-ld/v1/temporal/entities/{segment}?")
        assert broker.asked[-1]["entity"] == entity


def test_a_deadline_inside_a_request_stops_a_hanging_broker(httpserver: HTTPServer, make: Any) -> None:
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(10)
        return Response("{}", content_type="application/json")

    httpserver.expect_request(PATHS).respond_with_handler(hang)
    began = time.monotonic()
    try:
        with deadline.within(deadline.Deadline(0.5)), pytest.raises(SourceTimeout) as info:
            read(make(timeout="60s"))
    finally:
        release.set()
    assert time.monotonic() - began < 3
    assert str(info.value).startswith("source 'broker': series 'urn:ngsi-ld:Device:1.temperature': page 1: ")
    assert "no answer within 0.5 s" in str(info.value)


# -- discovery ---------------------------------------------------------------------------------------------


def test_discovery_lists_numeric_properties_of_the_types_page_by_page(broker: Broker, make: Any) -> None:
    for i in range(2, 6):
        broker.add(f"urn:ngsi-ld:Device:{i}", "temperature", [(hour(0), i)])
    broker.add("urn:ngsi-ld:Device:2", "name", [(hour(0), "pump")])
    broker.add("urn:ngsi-ld:Device:2", "on", [(hour(0), True)])
    broker.add("urn:ngsi-ld:Sensor:9", "rh", [(hour(0), 55)], type_="Sensor,Odd")
    broker.add("urn:ngsi-ld:Meter:1", "energy", [(hour(0), 3)], type_="Meter")
    broker.add("urn:ngsi-ld:Room:1", "co2", [(hour(0), 400)], type_="Room")
    broker.members["urn:ngsi-ld:Device:3"] = {"refRoom": {"type": "Relationship", "object": "urn:ngsi-ld:Room:1"},
                                              "pressure": [{"type": "Property", "value": 1013, "datasetId": "urn:a"}]}
    source = make(types=["Device", "Meter"], page_size=2, ngsild_tenant="farm7", context=CONTEXT)
    found = source.entities()
    assert found == [
        SeriesRef(DEVICE, "temperature", "temperature"),
        *[SeriesRef(f"urn:ngsi-ld:Device:{i}", "temperature", "temperature") for i in (2, 3)],
        SeriesRef("urn:ngsi-ld:Device:3", "pressure", "pressure"),
        *[SeriesRef(f"urn:ngsi-ld:Device:{i}", "temperature", "temperature") for i in (4, 5)],
        SeriesRef("urn:ngsi-ld:Meter:1", "energy", "energy"),
    ]
    asked = broker.asked
    assert [a["raw"] for a in asked] == [
        f"/ngsi-ld/v1/entities?type=Device,Meter&limit=2&offset={n}" for n in (0, 2, 4, 6)
    ], "offset paging until a short page"
    assert all(a["headers"]["Ngsild-Tenant"] == "farm7" and CONTEXT in a["headers"]["Link"] for a in asked)
    assert source.entities() == found and len(broker.asked) == 4, "cached briefly"


def test_discovery_without_types_cannot_tell_and_asks_nothing(broker: Broker, make: Any) -> None:
    assert make().entities() is None
    assert broker.asked == []


def test_discovery_failures_name_the_source(httpserver: HTTPServer, make: Any, waits: list[float]) -> None:
    httpserver.expect_request(PATHS).respond_with_data("down", status=502)
    with pytest.raises(SourceError, match=r"^source 'broker': entity discovery: page 1: HTTP 502 Bad Gateway"):
        make(types=["Device"], retries=0).entities()
    httpserver.clear_all_handlers()
    httpserver.expect_request(PATHS).respond_with_json({"id": "x"})
    with pytest.raises(SourceError, match="entity discovery: page 1: the response is not a list of entities"):
        make(types=["Device"]).entities()


# -- the catalog -------------------------------------------------------------------------------------------


def catalog_text(source: str) -> str:
    return textwrap.dedent("""\
        partitions: {start: "2024-01-01", end: "2024-01-02"}
        sources:
          broker:
        SOURCE
        series:
          - {entity: "urn:ngsi-ld:Device:1", attribute: temperature, source: broker, cadence: 1h}
        """).replace("SOURCE", textwrap.indent(textwrap.dedent(source), "    "))


@pytest.mark.parametrize(("source", "key", "reason"), [
    ("kind: ngsi_ld\n", "sources.broker.url", "Field required"),
    ("kind: ngsi_ld\nurl: broker:1026\n", "sources.broker.url", "must be an absolute http or https URL"),
    ("kind: ngsi_ld\nurl: ftp://broker\n", "sources.broker.url", "must be an absolute http or https URL"),
    ("kind: ngsi_ld\nurl: http://broker?apikey=1\n", "sources.broker.url", "no query, fragment or placeholder"),
    ("kind: ngsi_ld\nurl: http://broker/{entity}\n", "sources.broker.url", "no query, fragment or placeholder"),
    ("kind: ngsi_ld\nurl: http://broker\npage_size: 0\n", "sources.broker.page_size", "between 1 and 10000"),
    ("kind: ngsi_ld\nurl: http://broker\ncontext: ngsi-context.jsonld\n", "sources.broker.context",
     "absolute http or https URL of a JSON-LD @context"),
    ("kind: ngsi_ld\nurl: http://broker\nngsild_tenant: a b\n", "sources.broker.ngsild_tenant", "without spaces"),
    ("kind: ngsi_ld\nurl: http://broker\ntypes: [Device, 'A,B']\n", "sources.broker.types", "entry 2 must be"),
    ("kind: ngsi_ld\nurl: http://broker\nretries: 50\n", "sources.broker.retries", "between 0 and 20"),
    ("kind: ngsi_ld\nurl: http://broker\ntimeout: 1h\n", "sources.broker.timeout", "at most 10m"),
    ("kind: ngsi_ld\nurl: http://broker\ntimeout: soon\n", "sources.broker.timeout", "is not a duration"),
    ("kind: ngsi_ld\nurl: http://broker\nrate_limit: 0\n", "sources.broker.rate_limit", "must be positive"),
    ("kind: ngsi_ld\nurl: http://broker\nlastN: 100\n", "sources.broker.lastN", "Extra inputs are not permitted"),
])
def test_catalog_entries_are_checked_at_load(tmp_path: Path, source: str, key: str, reason: str) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(catalog_text(source))
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert info.value.key_path == key
    assert reason in info.value.reason
    assert "apikey" not in str(info.value)


def test_the_kind_is_in_the_table() -> None:
    assert kind_class("ngsi_ld") is NgsiLdSource


def test_a_catalog_source_end_to_end_through_the_assets(
    broker: Broker, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datahub_assets.definitions import build_definitions
    from datahub_assets.materialize import materialize_partitions

    broker.limit = 7
    broker.add(DEVICE, "temperature", [(hour(h), h + 0.5) for h in range(48)])
    monkeypatch.setenv("DATAHUB_TEST_BROKER", httpserver.url_for("/").rstrip("/"))
    path = tmp_path / "catalog.yaml"
    path.write_text(catalog_text(f"""\
        kind: ngsi_ld
        tenant: farm
        url: "${{DATAHUB_TEST_BROKER}}"
        ngsild_tenant: openiot
        context: {CONTEXT}
        types: Device
        retries: 0
        """))
    catalog = load_catalog(path)
    settings = Settings(lake=str(tmp_path / "lake"))
    source = make_resources(catalog, settings)[source_key("broker")]
    assert isinstance(source, NgsiLdSource) and source.types == ["Device"] and source.ngsild_tenant == "openiot"
    stored = tmp_path / "lake/farm/raw/broker/urn_ngsi_ld_device_1_temperature/date=2024-01-02/data.parquet"
    with dg.instance_for_test() as instance:
        defs = build_definitions(catalog, settings)
        assert materialize_partitions("key:raw/*", ["2024-01-01", "2024-01-02"], defs=defs, instance=instance,
                                      echo=lambda _: None) == []
        day2 = pl.read_parquet(stored)
        assert day2["value"].to_list() == [h + 0.5 for h in range(24, 48)]
        assert day2["ts"].to_list() == [hour(h) for h in range(24, 48)]
        assert all(a["headers"]["Ngsild-Tenant"] == "openiot" for a in broker.asked)
        assert len(temporal(broker)) == 2 * 4, "24 readings a day, 7 per page"
        # A broker gone bad fails the run with the source and series named; the stored day stays as it was.
        httpserver.clear_all_handlers()
        httpserver.expect_request(PATHS).respond_with_data("{broken", content_type="application/json")
        lines: list[str] = []
        assert materialize_partitions("key:raw/*", ["2024-01-02"], defs=defs, instance=instance,
                                      echo=lines.append) == ["2024-01-02"]
        assert "source 'broker': series 'urn:ngsi-ld:Device:1.temperature'" in "\n".join(lines)
        assert pl.read_parquet(stored).equals(day2)
    assert re.search("not valid JSON", "\n".join(lines))
