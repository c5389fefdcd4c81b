"""The http source against real local HTTP servers (pytest-httpserver): parsing, paging, the same-origin rule,
placeholder encoding, retries with `Retry-After`, headers, rate limiting and timeouts."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from resources.catalog import load_catalog
from resources.registry import make_resources, source_key
from resources.settings import Settings
from resources.sources import transport as transport_module
from resources.sources.base import FRAME_SCHEMA, SeriesRef, SourceError
from resources.sources.http import HttpSource

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 1, 2, tzinfo=UTC)
SERIES = SeriesRef("urn:city:zone1", "power", "Zone 1")


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff sleeps are recorded instead of slept (a test wanting real time puts `time.sleep` back)."""
    recorded: list[float] = []
    monkeypatch.setattr(transport_module, "_sleep", recorded.append)
    return recorded


@pytest.fixture
def make(httpserver: HTTPServer) -> Iterator[Any]:
    """`make(path, **options)`: an HttpSource named `api` for a path of the test server; closed afterwards."""
    made: list[HttpSource] = []

    def build(path: str, **options: Any) -> HttpSource:
        url = path if path.startswith("http") else httpserver.url_for(path)
        source = HttpSource(name="api", url=url, **options)
        made.append(source)
        return source

    yield build
    for source in made:
        source.close()


def read(source: HttpSource, series: SeriesRef = SERIES, **kw: Any) -> pl.DataFrame:
    return source.read(series, start=kw.pop("start", START), end=kw.pop("end", END), **kw)


def requests(server: HTTPServer) -> list[Request]:
    return [request for request, _ in server.log]


def raw_uri(request: Request) -> str:
    return str(request.environ["RAW_URI"])


def rows(hours_and_values: list[tuple[int, Any]]) -> list[dict[str, Any]]:
    return [{"ts": utc(2024, 1, 1, h).isoformat(), "value": v} for h, v in hours_and_values]


# -- parsing -----------------------------------------------------------------------------------------------


def test_json_records_at_a_nested_path_in_delivery_order(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/readings").respond_with_json({"data": {"items": [
        {"time": "2024-01-01T02:00:00Z", "v": 3},
        {"time": "2024-01-01T01:00:00+01:00", "v": None},  # = 00:00 UTC; null kept
        {"time": "2024-01-01T02:00:00", "v": "2.5"},  # naive = UTC; a numeric string is a number
        {"time": "2024-01-01 03:30:00.250000-02:00", "v": 1e3},
    ]}})
    source = make("/readings", records="data.items", timestamp_field="time", value_field="v")
    frame = read(source)
    assert frame.schema == FRAME_SCHEMA
    assert frame["ts"].to_list() == [
        utc(2024, 1, 1, 2), utc(2024, 1, 1, 0), utc(2024, 1, 1, 2), datetime(2024, 1, 1, 5, 30, 0, 250000, UTC)
    ], "delivery order, duplicates kept"
    assert frame["value"].to_list() == [3.0, None, 2.5, 1000.0]
    assert requests(httpserver)[0].headers["Accept"] == "application/json"


def test_the_body_itself_is_the_record_list_by_default(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/r").respond_with_json(rows([(1, 1), (2, 2)]))
    assert read(make("/r"))["value"].to_list() == [1.0, 2.0]
    httpserver.expect_request("/empty").respond_with_json({"data": None})
    assert read(make("/empty", records="data")).schema == FRAME_SCHEMA
    httpserver.expect_request("/none").respond_with_data("", status=204)
    assert read(make("/none", records="data", next="next")).height == 0, "204 No Content: no records"


def test_csv(httpserver: HTTPServer, make: Any) -> None:
    body = "time, reading\n2024-01-01T00:00:00Z,1.5\n1704070800,\n2024-01-01T02:00:00+00:00, -2 \n"
    httpserver.expect_request("/r.csv").respond_with_data(body, content_type="text/csv")
    frame = read(make("/r.csv", format="csv", timestamp_field="time", value_field="reading"))
    assert frame.schema == FRAME_SCHEMA
    assert frame["ts"].to_list() == [utc(2024, 1, 1, 0), utc(2024, 1, 1, 1), utc(2024, 1, 1, 2)]
    assert frame["value"].to_list() == [1.5, None, -2.0]
    assert requests(httpserver)[0].headers["Accept"] == "text/csv"


def test_rows_outside_the_window_are_dropped(httpserver: HTTPServer, make: Any) -> None:
    stamps = [START - timedelta(seconds=1), START, END - timedelta(microseconds=1), END]
    httpserver.expect_request("/r").respond_with_json(
        [{"ts": s.isoformat(), "value": i} for i, s in enumerate(stamps)]
    )
    frame = read(make("/r"))
    assert frame["ts"].to_list() == stamps[1:3]
    assert frame["value"].to_list() == [1.0, 2.0]


def test_epoch_seconds_and_milliseconds(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/ms").respond_with_json(
        [{"ts": 1704067200000, "value": 1}, {"ts": "1704067200500", "value": 2}]
    )
    frame = read(make("/ms", timestamp_unit="ms"))
    assert frame["ts"].to_list() == [START, START + timedelta(milliseconds=500)]
    httpserver.expect_request("/s").respond_with_json([{"ts": 1704067200.25, "value": 1}, {"ts": 1704070800}])
    frame = read(make("/s"))
    assert frame["ts"].to_list() == [START + timedelta(milliseconds=250), utc(2024, 1, 1, 1)]
    assert frame["value"].to_list() == [1.0, None], "a missing value field is a null value"


def test_bad_values_and_timestamps_name_the_source_and_field(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/value").respond_with_json([{"ts": 1704067200, "value": 1}, {"ts": 1, "value": "x"}])
    with pytest.raises(SourceError, match=r"source 'api'.*record 2.*field 'value' is not a number"):
        read(make("/value"))
    httpserver.expect_request("/bool").respond_with_json([{"ts": 1704067200, "value": True}])
    with pytest.raises(SourceError, match="'value' is not a number"):
        read(make("/bool"))
    httpserver.expect_request("/ts").respond_with_json([{"ts": "yesterday", "value": 1}])
    with pytest.raises(SourceError, match=r"source 'api'.*record 1 has no valid timestamp in field 'ts'"):
        read(make("/ts"))
    httpserver.expect_request("/nots").respond_with_json([{"value": 1}])
    with pytest.raises(SourceError, match="field 'ts'"):
        read(make("/nots"))
    httpserver.expect_request("/novalue").respond_with_json([{"ts": 1704067200, "val": 1}])
    with pytest.raises(SourceError, match="no record has the value field 'value'"):
        read(make("/novalue"))


def test_invalid_json_and_csv_and_shapes(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/json").respond_with_data("{not json", content_type="application/json")
    with pytest.raises(SourceError, match="source 'api': page 1: the response is not valid JSON") as info:
        read(make("/json"))
    assert not info.value.retryable
    httpserver.expect_request("/csv").respond_with_data("a,b\n1,2\n", content_type="text/csv")
    with pytest.raises(SourceError, match="no column 'ts' in the CSV"):
        read(make("/csv", format="csv"))
    httpserver.expect_request("/path").respond_with_json({"items": []})
    with pytest.raises(SourceError, match="the 'records' path is not in the response"):
        read(make("/path", records="data"))
    httpserver.expect_request("/obj").respond_with_json({"ts": 1})
    with pytest.raises(SourceError, match="the records are not a list"):
        read(make("/obj"))


# -- paging and the same-origin rule -----------------------------------------------------------------------


def test_next_links_absolute_and_relative(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/api/p1").respond_with_json(
        {"items": rows([(0, 1)]), "links": {"next": httpserver.url_for("/api/p2")}}
    )
    httpserver.expect_request("/api/p2").respond_with_json({"items": rows([(1, 2)]), "links": {"next": "p3?c=x"}})
    httpserver.expect_request("/api/p3", query_string="c=x").respond_with_json(
        {"items": rows([(2, 3)]), "links": {"next": None}}
    )
    frame = read(make("/api/p1", records="items", next="links.next"))
    assert frame["value"].to_list() == [1.0, 2.0, 3.0]
    assert [raw_uri(r) for r in requests(httpserver)] == ["/api/p1", "/api/p2", "/api/p3?c=x"]


def test_page_param_paging_stops_at_a_short_page(httpserver: HTTPServer, make: Any) -> None:
    for page, values in [(1, [(0, 1), (1, 2)]), (2, [(2, 3), (3, 4)]), (3, [(4, 5)])]:
        httpserver.expect_request("/items", query_string=f"limit=2&page={page}").respond_with_json(rows(values))
    frame = read(make("/items?limit=2", page_param="page", page_size=2))
    assert frame["value"].to_list() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert len(httpserver.log) == 3


def test_page_param_without_page_size_stops_at_an_empty_page(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/items", query_string="p=1").respond_with_json(rows([(0, 1)]))
    httpserver.expect_request("/items", query_string="p=2").respond_with_json([])
    assert read(make("/items", page_param="p"))["value"].to_list() == [1.0]
    assert len(httpserver.log) == 2


def test_next_link_to_another_host_or_port_is_refused_and_never_requested(
    httpserver: HTTPServer, make: Any
) -> None:
    other = HTTPServer(host="127.0.0.1", port=0)
    other.expect_request("/steal").respond_with_json([])
    other.start()
    try:
        port = httpserver.port
        elsewhere = [
            other.url_for("/steal"),  # another port
            f"http://127.0.0.1:{port}/steal",  # another host name, same port
            f"https://localhost:{port}/steal",  # another scheme
            f"//127.0.0.1:{other.port}/steal",  # scheme-relative
        ]
        for index, link in enumerate(elsewhere):
            httpserver.expect_request(f"/p{index}").respond_with_json({"items": [], "next": link})
            with pytest.raises(SourceError, match="source 'api': page 1: the 'next' link points outside") as info:
                read(make(f"/p{index}", records="items", next="next"))
            assert not info.value.retryable
            assert str(other.port) not in str(info.value) and "steal" not in str(info.value)
        assert other.log == [], "nothing was requested from the other server"
        assert len(httpserver.log) == len(elsewhere), "one request per read: the first page only"
    finally:
        other.clear()
        other.stop()


def test_a_repeated_next_link_is_an_error(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/a").respond_with_json({"items": rows([(0, 1)]), "next": "/b"})
    httpserver.expect_request("/b").respond_with_json({"items": rows([(1, 1)]), "next": "/a"})
    with pytest.raises(SourceError, match="page 2: the 'next' link repeats an earlier page"):
        read(make("/a", records="items", next="next"))
    assert len(httpserver.log) == 2


def test_redirects_are_not_followed(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/moved").respond_with_data("", status=302, headers={"Location": "http://10.0.0.1/"})
    with pytest.raises(SourceError, match="HTTP 302 Found \\(redirects are not followed\\)"):
        read(make("/moved"))
    assert len(httpserver.log) == 1


# -- the URL template --------------------------------------------------------------------------------------


def test_placeholders_are_percent_encoded_and_stay_one_segment_or_value(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request(re.compile("^/s/")).respond_with_json([])
    source = make("/s/{entity}/{attribute}?col={column}&from={start}&to={end}&a={start_epoch}&b={end_epoch}")
    read(source, SeriesRef("urn:a/b?c=d#e", "power", "Zone 1&x=y"))
    (request,) = requests(httpserver)
    assert raw_uri(request) == (
        "/s/urn%3Aa%2Fb%3Fc%3Dd%23e/power?col=Zone%201%26x%3Dy"
        "&from=2024-01-01T00%3A00%3A00Z&to=2024-01-02T00%3A00%3A00Z&a=1704067200&b=1704153600"
    )
    assert request.args.to_dict() == {
        "col": "Zone 1&x=y", "from": "2024-01-01T00:00:00Z", "to": "2024-01-02T00:00:00Z",
        "a": "1704067200", "b": "1704153600",
    }
    assert request.host == f"localhost:{httpserver.port}"


def test_epoch_placeholders_cover_the_whole_window(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/w").respond_with_json([])
    start = datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    end = datetime(2024, 1, 1, 4, 0, 0, 250000, tzinfo=timezone(timedelta(hours=1)))  # 03:00:00.25Z
    read(make("/w?s={start_epoch}&e={end_epoch}&from={start}"), start=start, end=end)
    assert raw_uri(requests(httpserver)[0]) == (
        "/w?s=1704067200&e=1704078001&from=2024-01-01T00%3A00%3A00.500000Z"
    )


def test_placeholders_never_form_the_host(make: Any) -> None:
    with pytest.raises(SourceError, match="placeholders in its path and query only"):
        read(make("http://{entity}.example.invalid/r"))
    with pytest.raises(SourceError, match="unknown placeholder \\{entiy\\}"):
        read(make("http://localhost:1/r/{entiy}"))


# -- retries -----------------------------------------------------------------------------------------------


def test_503_then_200_is_retried_with_backoff(httpserver: HTTPServer, make: Any, waits: list[float]) -> None:
    httpserver.expect_oneshot_request("/r").respond_with_data("busy", status=503)
    httpserver.expect_oneshot_request("/r").respond_with_data("", status=502)
    httpserver.expect_request("/r").respond_with_json(rows([(0, 1)]))
    assert read(make("/r"))["value"].to_list() == [1.0]
    assert len(httpserver.log) == 3
    assert len(waits) == 2
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 1.5, "exponential backoff plus jitter"


def test_retry_after_is_honoured_in_real_time(
    httpserver: HTTPServer, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport_module, "_sleep", time.sleep)
    httpserver.expect_oneshot_request("/r").respond_with_data("slow down", status=429, headers={"Retry-After": "1"})
    httpserver.expect_request("/r").respond_with_json(rows([(0, 1)]))
    began = time.monotonic()
    assert read(make("/r"))["value"].to_list() == [1.0]
    assert time.monotonic() - began >= 0.95
    assert len(httpserver.log) == 2


def test_retry_after_as_seconds_or_http_date_is_capped(
    httpserver: HTTPServer, make: Any, waits: list[float]
) -> None:
    in_30s = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    for after in ["7", "3600", in_30s]:
        httpserver.expect_oneshot_request("/r").respond_with_data("", status=429, headers={"Retry-After": after})
    httpserver.expect_request("/r").respond_with_json([])
    read(make("/r"))
    assert waits[:2] == [7.0, transport_module.MAX_RETRY_AFTER]
    assert 28.0 <= waits[2] <= 30.0


def test_exhausted_retries_are_a_retryable_error(httpserver: HTTPServer, make: Any, waits: list[float]) -> None:
    httpserver.expect_request("/r").respond_with_data("down", status=503)
    with pytest.raises(SourceError) as info:
        read(make("/r", retries=2))
    assert info.value.retryable
    assert str(info.value) == "source 'api': page 1: HTTP 503 Service Unavailable after 3 attempt(s)"
    assert len(httpserver.log) == 3 and len(waits) == 2


def test_404_is_not_retried_and_its_message_carries_no_query_or_secret(
    httpserver: HTTPServer, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request("/missing/urn:city:zone1").respond_with_data("nope", status=404)
    source = make("/missing/{entity}?apikey=topsecret", headers={"X-Api-Key": "hidden-value"})
    with pytest.raises(SourceError) as info:
        read(source)
    message = str(info.value)
    assert message == "source 'api': page 1: HTTP 404 Not Found"
    assert not info.value.retryable
    assert len(httpserver.log) == 1
    assert requests(httpserver)[0].headers["X-Api-Key"] == "hidden-value"
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))  # not the server's
    assert "HTTP Request: GET" in ours
    for secret in ["topsecret", "apikey", "hidden-value", "missing"]:
        assert secret not in message
        assert secret not in ours, "httpx's request log line is redacted too"


def test_a_timeout_is_a_retryable_error(httpserver: HTTPServer, make: Any) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.3)
        return Response("[]", content_type="application/json")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    with pytest.raises(SourceError, match=r"source 'api': page 1: request failed \(ReadTimeout\) after 2") as info:
        read(make("/slow", timeout="100ms", retries=1))
    assert info.value.retryable
    deadline = time.monotonic() + 5
    while len(httpserver.log) < 2 and time.monotonic() < deadline:  # let the server finish both requests
        time.sleep(0.05)
    assert len(httpserver.log) == 2


def test_connection_refused_is_retried_then_retryable(make: Any, waits: list[float]) -> None:
    dead = HTTPServer(host="127.0.0.1", port=0)
    dead.start()
    url = dead.url_for("/r")
    dead.stop()
    with pytest.raises(SourceError, match=r"request failed \(ConnectError\) after 3 attempt") as info:
        read(make(url, retries=2))
    assert info.value.retryable and len(waits) == 2


# -- headers -----------------------------------------------------------------------------------------------


def test_only_opted_in_forwarded_headers_are_sent(httpserver: HTTPServer, make: Any) -> None:
    httpserver.expect_request("/r").respond_with_json([])
    source = make("/r", headers={"X-Static": "s", "authorization": "static"},
                  forward_headers=["Authorization", "x-tenant-id"])
    forwarded = {"AUTHORIZATION": "Bearer caller", "X-Tenant-ID": "acme", "Cookie": "c=1", "X-Other": "no"}
    read(source, forwarded=forwarded)
    read(source)
    with_forwarded, without = (r.headers for r in requests(httpserver))
    assert with_forwarded["Authorization"] == "Bearer caller", "an opted-in forwarded header wins over a static one"
    assert with_forwarded["X-Tenant-ID"] == "acme"
    assert with_forwarded["X-Static"] == "s"
    assert "Cookie" not in with_forwarded and "X-Other" not in with_forwarded
    assert without["Authorization"] == "static" and "X-Tenant-ID" not in without
    httpserver.expect_request("/plain").respond_with_json([])
    read(make("/plain"), forwarded=forwarded)
    assert "Authorization" not in requests(httpserver)[-1].headers, "no forward_headers: nothing forwarded"


def test_static_header_from_an_env_var_is_resolved_by_dagster(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAHUB_TEST_HTTP_TOKEN", "s3cr3t")
    httpserver.expect_request("/r").respond_with_json([])
    source = HttpSource(
        name="api", url=httpserver.url_for("/r"), headers={"Authorization": dg.EnvVar("DATAHUB_TEST_HTTP_TOKEN")}
    )
    assert "s3cr3t" not in repr(source)
    with dg.build_resources({"src": source}) as built:
        read(built.src)
        built.src.close()
    assert requests(httpserver)[0].headers["Authorization"] == "s3cr3t"


# -- rate limit --------------------------------------------------------------------------------------------


def test_rate_limit_spaces_requests(httpserver: HTTPServer, make: Any) -> None:
    for page in (1, 2, 3):
        httpserver.expect_request("/items", query_string=f"page={page}").respond_with_json(
            rows([(0, 1)] if page < 3 else [])
        )
    began = time.monotonic()
    read(make("/items", page_param="page", page_size=1, rate_limit=5))
    assert len(httpserver.log) == 3
    assert time.monotonic() - began >= 0.39


# -- through the catalog -----------------------------------------------------------------------------------


def test_an_http_source_from_the_catalog(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAHUB_TEST_HTTP_KEY", "k-123")
    httpserver.expect_request(re.compile("^/v1/")).respond_with_json({"result": {"points": [
        {"t": 1704067200000, "y": 4.5}, {"t": 1704070800000, "y": None},
    ]}})
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "partitions: {start: '2024-01-01'}\n"
        "sources:\n"
        "  remote:\n"
        "    kind: http\n"
        f"    url: '{httpserver.url_for('/v1/{entity}/{column}')}?from={{start_epoch}}'\n"
        "    records: result.points\n"
        "    timestamp_field: t\n"
        "    value_field: y\n"
        "    timestamp_unit: ms\n"
        "    headers: {X-Key: '${DATAHUB_TEST_HTTP_KEY}'}\n"
        "    timeout: 2s\n"
        "    retries: 1\n"
        "series:\n"
        "  - {entity: 'urn:x:1', attribute: power, source: remote, column: p 1}\n"
    )
    resources = make_resources(load_catalog(catalog), Settings(lake=str(tmp_path / "lake")))
    source = resources[source_key("remote")]
    assert isinstance(source, HttpSource)
    assert source.timeout == "2s" and source.retries == 1 and source.timestamp_unit == "ms"
    assert source.headers["X-Key"] == dg.EnvVar("DATAHUB_TEST_HTTP_KEY")
    with dg.build_resources({"remote": source}) as built:
        frame = read(built.remote, SeriesRef("urn:x:1", "power", "p 1"))
        built.remote.close()
    assert frame["ts"].to_list() == [START, utc(2024, 1, 1, 1)]
    assert frame["value"].to_list() == [4.5, None]
    (request,) = requests(httpserver)
    assert raw_uri(request) == "/v1/urn%3Ax%3A1/p%201?from=1704067200"
    assert request.headers["X-Key"] == "k-123"
