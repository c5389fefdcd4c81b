"""Malformed and absurd requests over real HTTP: every one is a 4xx whose body is exactly `{"error": "..."}`
naming the offending field (DESIGN section 7); nothing is a 5xx, nothing is clamped silently."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from resources.keys import tenant_paths
from tests.api.conftest import LiveApi

ALIGN = "/api/datahub/timeseries/align"
EXPORT = "/api/datahub/export"
DATA = "/api/datahub/timeseries/entities/urn:demo:plant1/data"
ENTITIES = "/api/datahub/entities"
RUNS = "/api/datahub/materializations"
JSON = {"content-type": "application/json"}
DROP = object()  # a key to leave out of the body
PLANT = {"entity_id": "urn:demo:plant1", "attribute": "output"}
ASSET = "raw/plant/urn_demo_plant1_output"  # an asset of the default tenant (checked below)


def body(**changes: object) -> dict[str, object]:
    """A valid align body (one materialized hour), with fields replaced, added or dropped (DROP)."""
    out: dict[str, object] = {"series": [PLANT], "start_time": "2017-01-02T00:00:00Z",
                              "end_time": "2017-01-02T01:00:00Z"}
    out.update(changes)
    return {k: v for k, v in out.items() if v is not DROP}


def query(**changes: object) -> dict[str, Any]:
    out: dict[str, Any] = {"time_from": "2017-01-02T00:00:00Z", "time_to": "2017-01-02T01:00:00Z"}
    out.update(changes)
    return {k: v for k, v in out.items() if v is not DROP}


def runs(**changes: object) -> dict[str, object]:
    out: dict[str, object] = {"assets": [ASSET], "partitions": ["2017-01-02"]}
    out.update(changes)
    return {k: v for k, v in out.items() if v is not DROP}


@dataclass(frozen=True)
class Bad:
    id: str
    method: str
    path: str
    status: int
    named: str  # the message must read "<named>: ..."
    json: Any = DROP
    content: bytes | None = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, client: httpx.Client) -> httpx.Response:
        kwargs: dict[str, Any] = {"headers": self.headers, "params": self.params}
        if self.content is not None:
            kwargs.update(content=self.content, headers={**JSON, **self.headers})
        elif self.json is not DROP:
            kwargs["json"] = self.json
        return client.request(self.method, self.path, **kwargs)


def post(id: str, status: int, named: str, json: Any = DROP, path: str = ALIGN, **kw: Any) -> Bad:
    return Bad(id, "POST", path, status, named, json=json, **kw)


def get(id: str, path: str, status: int, named: str, **params: object) -> Bad:
    return Bad(id, "GET", path, status, named, params=params)


def raw(id: str, text: bytes, named: str = "start_time", status: int = 422, path: str = ALIGN) -> Bad:
    """A body json.dumps would not write (NaN, Infinity, huge ints, bad bytes)."""
    return Bad(id, "POST", path, status, named, content=text)


def nonfinite(value: str) -> bytes:
    return (b'{"series": [{"entity_id": "urn:demo:plant1", "attribute": "output"}], "start_time": ' + value.encode()
            + b', "end_time": "2017-01-02T01:00:00Z"}')


MANY = [PLANT] * 101
TWO = [PLANT, {"entity_id": "urn:demo:plant1", "attribute": "temperature"}]

CASES = [
    # --- align: the body as a whole
    raw("not-json", b'{"series": [', "body", 400),
    raw("not-utf8", b"\xff\xfe{}", "body", 400),
    raw("too-deep", b"[" * 100_000, "body", 400),
    post("array-body", 422, "body", []),
    post("string-body", 422, "body", "align please"),
    post("null-body", 422, "body", None),
    post("number-body", 422, "body", 42),
    Bad("no-body", "POST", ALIGN, 422, "body"),
    Bad("text-plain-body", "POST", ALIGN, 422, "body", content=b'{"series": []}',
        headers={"content-type": "text/plain"}),
    # --- missing and extra fields
    post("missing-series", 422, "series", body(series=DROP)),
    post("missing-start", 422, "start_time", body(start_time=DROP)),
    post("missing-end", 422, "end_time", body(end_time=DROP)),
    post("extra-field", 422, "limit", body(limit=10)),
    post("extra-selector-field", 422, "series[0].unit", body(series=[{**PLANT, "unit": "kW"}])),
    # --- series
    post("empty-series", 422, "series", body(series=[])),
    post("series-dict", 422, "series", body(series=PLANT)),
    post("series-string", 422, "series", body(series="urn:demo:plant1.output")),
    post("series-null", 422, "series", body(series=None)),
    post("selector-string", 422, "series[0]", body(series=["urn:demo:plant1.output"])),
    post("entity-id-number", 422, "series[0].entity_id", body(series=[{"entity_id": 7, "attribute": "output"}])),
    post("entity-id-empty", 422, "series[0].entity_id", body(series=[{"entity_id": "", "attribute": "output"}])),
    post("entity-id-huge", 422, "series[0].entity_id", body(series=[{**PLANT, "entity_id": "u" * 600}])),
    post("attribute-missing", 422, "series[1].attribute", body(series=[PLANT, {"entity_id": "urn:demo:plant1"}])),
    post("source-empty", 422, "series[0].source", body(series=[{**PLANT, "source": ""}])),
    post("too-many-series", 413, "series", body(series=MANY)),
    # --- resolution
    post("resolution-true", 422, "resolution", body(resolution=True)),
    post("resolution-false", 422, "resolution", body(resolution=False)),
    post("resolution-float", 422, "resolution", body(resolution=1.5)),
    post("resolution-list", 422, "resolution", body(resolution=["1m"])),
    post("resolution-null", 422, "resolution", body(resolution=None)),
    post("resolution-negative", 422, "resolution", body(resolution=-5)),
    post("resolution-zero", 422, "resolution", body(resolution=0)),
    post("resolution-one-point", 422, "resolution", body(resolution=1)),
    post("resolution-one-point-str", 422, "resolution", body(resolution="1")),
    post("resolution-points-over-limit", 422, "resolution", body(resolution=5_000_001)),
    post("resolution-points-over-limit-2-series", 422, "resolution", body(series=TWO, resolution=2_500_001)),
    post("resolution-huge-int", 422, "resolution", body(resolution=10**30)),
    post("resolution-huge-digits", 422, "resolution", body(resolution="9" * 5000)),
    post("resolution-superscript-digit", 422, "resolution", body(resolution="²")),
    post("resolution-0m", 422, "resolution", body(resolution="0m")),
    post("resolution-negative-duration", 422, "resolution", body(resolution="-5m")),
    post("resolution-abc", 422, "resolution", body(resolution="abc")),
    post("resolution-unit-only", 422, "resolution", body(resolution="m")),
    post("resolution-overflowing-days", 422, "resolution", body(resolution="99999999999999d")),
    post("resolution-longer-than-any-window", 422, "resolution", body(resolution="1000000d", method="mean")),
    post("resolution-too-many-cells", 413, "resolution",
         body(start_time="2017-01-02", end_time="2017-07-21", resolution="1s")),
    post("resolution-too-many-cells-ms", 413, "resolution", body(end_time="2017-01-03", resolution="1ms")),
    post("raw-with-mean", 422, "method", body(resolution="raw", method="mean")),
    # --- method and tolerance
    post("method-unknown", 422, "method", body(method="median")),
    post("method-number", 422, "method", body(method=1)),
    post("tolerance-with-mean", 422, "tolerance", body(method="mean", resolution="1h", tolerance="15m")),
    post("tolerance-with-points-sum", 422, "tolerance", body(method="sum", resolution=10, tolerance="none")),
    post("tolerance-abc", 422, "tolerance", body(tolerance="abc")),
    post("tolerance-negative", 422, "tolerance", body(tolerance="-5m")),
    post("tolerance-zero", 422, "tolerance", body(tolerance="0s")),
    post("tolerance-number", 422, "tolerance", body(tolerance=900)),
    post("tolerance-overflowing-days", 422, "tolerance", body(tolerance="99999999999999d")),
    post("tolerance-years", 422, "tolerance", body(tolerance="400000d")),
    post("tolerance-before-year-1", 422, "tolerance",
         body(start_time="0001-01-02T00:00:00Z", end_time="0001-01-03T00:00:00Z", tolerance="2d")),
    # --- times
    post("start-month-13", 422, "start_time", body(start_time="2017-13-45")),
    post("end-day-45", 422, "end_time", body(end_time="2017-01-45T00:00:00Z")),
    post("start-empty", 422, "start_time", body(start_time="")),
    post("start-words", 422, "start_time", body(start_time="yesterday")),
    post("start-bool", 422, "start_time", body(start_time=True)),
    post("start-null", 422, "start_time", body(start_time=None)),
    post("start-list", 422, "start_time", body(start_time=[2017, 1, 2])),
    post("start-object", 422, "start_time", body(start_time={"year": 2017})),
    post("start-huge-epoch", 422, "start_time", body(start_time=1e20)),
    post("start-huge-int-epoch", 422, "start_time", body(start_time=10**400)),
    post("start-huge-epoch-string", 422, "start_time", body(start_time="1e400")),
    post("start-nan-string", 422, "start_time", body(start_time="NaN")),
    post("start-year-1", 422, "start_time", body(start_time=-62135596800)),
    post("start-before-year-1-in-utc", 422, "start_time", body(start_time="0001-01-01T00:30:00+01:00")),
    post("end-after-year-9999-in-utc", 422, "end_time", body(end_time="9999-12-31T23:30:00-01:00")),
    post("start-camel-case-bad", 422, "startTime", {**body(start_time=DROP), "startTime": "2017-02-30"}),
    raw("start-nan", nonfinite("NaN")),
    raw("start-infinity", nonfinite("Infinity")),
    raw("start-minus-infinity", nonfinite("-Infinity")),
    raw("start-huge-literal", nonfinite("1" + "0" * 5000), "body", 400),  # beyond Python's int digits limit
    post("window-inverted", 422, "end_time", body(start_time="2017-01-02T01:00:00Z", end_time="2017-01-02")),
    post("window-empty", 422, "end_time", body(end_time="2017-01-02T00:00:00Z")),
    post("window-empty-epoch", 422, "end_time", body(start_time=1483315200, end_time="2017-01-02T00:00:00Z")),
    post("window-over-366-days", 413, "end_time", body(start_time="2017-01-01", end_time="2018-01-03")),
    post("window-unmaterialized", 409, "start_time/end_time", body(start_time="2017-03-01", end_time="2017-06-01",
                                                                  resolution="1h")),
    # --- catalog lookups
    post("unknown-entity", 404, "series[0]", body(series=[{"entity_id": "urn:nope", "attribute": "output"}])),
    post("unknown-attribute", 404, "series[1]", body(series=[PLANT, {**PLANT, "attribute": "colour"}])),
    post("unknown-source", 404, "series[0].source", body(series=[{**PLANT, "source": "nowhere"}])),
    post("wrong-source", 404, "series[0]", body(series=[{**PLANT, "source": "tetouan"}])),
    post("other-tenants-series", 404, "series[0]", body(series=[{"entity_id": "urn:acme:secret",
                                                                 "attribute": "output"}])),
    post("other-tenants-source", 404, "series[0].source", body(series=[{**PLANT, "source": "rival"}])),
    post("unknown-tenant", 404, "series[0]", body(), headers={"X-Tenant-ID": "nobody"}),
    # --- tenant header (checked before the body)
    post("tenant-space", 400, "X-Tenant-ID", body(), headers={"X-Tenant-ID": "a b"}),
    post("tenant-path", 400, "X-Tenant-ID", body(), headers={"X-Tenant-ID": "../default"}),
    post("tenant-too-long", 400, "X-Tenant-ID", body(), headers={"X-Tenant-ID": "t" * 65}),
    post("tenant-empty", 400, "X-Tenant-ID", body(), headers={"X-Tenant-ID": ""}),
    post("tenant-and-bad-body", 400, "X-Tenant-ID", [], headers={"X-Tenant-ID": "a/b"}),
    # --- export
    raw("export-not-json", b"format=csv", "body", 400, EXPORT),
    post("export-array-body", 422, "body", [], EXPORT),
    post("export-missing-series", 422, "series", body(series=DROP), EXPORT),
    post("export-format-unknown", 422, "format", body(format="xlsx"), EXPORT),
    post("export-format-number", 422, "format", body(format=1), EXPORT),
    post("export-aggregation-unknown", 422, "aggregation", body(aggregation="1 week"), EXPORT),
    post("export-aggregation-list", 422, "aggregation", body(aggregation=["1 day"]), EXPORT),
    post("export-resolution-bool", 422, "resolution", body(resolution=True), EXPORT),
    post("export-resolution-bad", 422, "resolution", body(resolution="soon"), EXPORT),
    post("export-raw-with-mean", 422, "method", body(aggregation="raw", method="mean"), EXPORT),
    post("export-tolerance-with-default-mean", 422, "tolerance", body(tolerance="15m"), EXPORT),
    post("export-method-unknown", 422, "method", body(method="avg"), EXPORT),
    post("export-unknown-series", 404, "series[0]", body(series=[{**PLANT, "attribute": "x"}]), EXPORT),
    post("export-window-inverted", 422, "end_time", body(end_time="2017-01-01"), EXPORT),
    post("export-window-too-long", 413, "end_time", body(end_time="2019-01-01"), EXPORT),
    post("export-too-many-cells", 413, "resolution", body(end_time="2017-03-02", resolution="1s",
                                                          format="parquet"), EXPORT),
    post("export-csv-too-many-cells", 413, "resolution", body(end_time="2018-01-02", resolution="100ms"), EXPORT),
    post("export-too-many-series", 413, "series", body(series=MANY), EXPORT),
    post("export-bad-tenant", 400, "X-Tenant-ID", body(), EXPORT, headers={"X-Tenant-ID": "tenant.x"}),
    # --- entity data GET (its fields are the query's)
    get("data-missing-from", DATA, 422, "time_from", **query(time_from=DROP)),
    get("data-missing-to", DATA, 422, "time_to", **query(time_to=DROP)),
    get("data-bad-from", DATA, 422, "time_from", **query(time_from="2017-13-45")),
    get("data-nan-to", DATA, 422, "time_to", **query(time_to="nan")),
    get("data-huge-to", DATA, 422, "time_to", **query(time_to="1e400")),
    get("data-from-too-long", DATA, 422, "time_from", **query(time_from="2" * 65)),
    get("data-inverted", DATA, 422, "time_to", **query(time_from="2017-01-02T02:00:00Z")),
    get("data-equal", DATA, 422, "time_to", **query(time_to="2017-01-02T00:00:00Z")),
    get("data-over-366-days", DATA, 413, "time_to", **query(time_to="2018-06-01")),
    get("data-unmaterialized", DATA, 409, "time_from/time_to", **query(time_from="2017-03-01",
                                                                       time_to="2017-06-01", resolution="1h")),
    get("data-resolution-abc", DATA, 422, "resolution", **query(resolution="abc")),
    get("data-resolution-zero", DATA, 422, "resolution", **query(resolution="0")),
    get("data-resolution-one", DATA, 422, "resolution", **query(resolution="1")),
    get("data-resolution-negative", DATA, 422, "resolution", **query(resolution="-5")),
    get("data-resolution-float", DATA, 422, "resolution", **query(resolution="2.5")),
    get("data-resolution-superscript", DATA, 422, "resolution", **query(resolution="²")),
    get("data-resolution-overflow", DATA, 422, "resolution", **query(resolution="99999999999999d")),
    get("data-resolution-too-long", DATA, 422, "resolution", **query(resolution="1" * 40)),
    get("data-too-many-cells", DATA, 413, "resolution", **query(time_to="2017-07-21", resolution="1s")),
    get("data-points-over-limit", DATA, 422, "resolution", **query(resolution="2500001")),  # 2 series
    get("data-method-unknown", DATA, 422, "method", **query(method="median")),
    get("data-tolerance-with-mean", DATA, 422, "tolerance", **query(method="mean", tolerance="1h")),
    get("data-tolerance-bad", DATA, 422, "tolerance", **query(tolerance="soon")),
    get("data-unknown-attr", DATA, 404, "attrs[1]", **query(attrs="output,colour")),
    get("data-only-commas", DATA, 422, "attrs", **query(attrs=",,,")),
    get("data-attr-too-long", DATA, 422, "attrs", **query(attrs="a" * 300)),
    get("data-too-many-attrs", DATA, 413, "attrs", **query(attrs=",".join(["output"] * 101))),
    get("data-unknown-entity", "/api/datahub/timeseries/entities/urn:nope/data", 404, "entity_id", **query()),
    get("data-other-tenants-entity", "/api/datahub/timeseries/entities/urn:acme:secret/data", 404, "entity_id",
        **query()),
    # --- entities
    get("entities-source-too-long", ENTITIES, 422, "source", source="s" * 65),
    Bad("entities-bad-tenant", "GET", ENTITIES, 400, "X-Tenant-ID", headers={"X-Tenant-ID": "a:b"}),
    # --- materializations (all refused before any Dagster call)
    raw("runs-not-json", b"assets=raw", "body", 400, RUNS),
    post("runs-array-body", 422, "body", [ASSET], RUNS),
    post("runs-missing-assets", 422, "assets", runs(assets=DROP), RUNS),
    post("runs-missing-partitions", 422, "partitions", runs(partitions=DROP), RUNS),
    post("runs-no-assets", 422, "assets", runs(assets=[]), RUNS),
    post("runs-no-partitions", 422, "partitions", runs(partitions=[]), RUNS),
    post("runs-assets-string", 422, "assets", runs(assets=ASSET), RUNS),
    post("runs-asset-number", 422, "assets[0]", runs(assets=[1]), RUNS),
    post("runs-extra-field", 422, "tags", runs(tags={"a": "b"}), RUNS),
    post("runs-too-many-partitions", 422, "partitions", runs(partitions=["2017-01-02"] * 367), RUNS),
    post("runs-unknown-asset", 404, "assets[1]", runs(assets=[ASSET, "raw/plant/nope"]), RUNS),
    post("runs-other-tenants-asset", 404, "assets[0]", runs(assets=["raw/rival/urn_acme_secret_output"]), RUNS),
    post("runs-partition-month-13", 422, "partitions[0]", runs(partitions=["2017-13-45"]), RUNS),
    post("runs-partition-words", 422, "partitions[1]", runs(partitions=["2017-01-02", "today"]), RUNS),
    post("runs-partition-before-start", 422, "partitions[0]", runs(partitions=["2016-12-31"]), RUNS),
    post("runs-partition-future", 422, "partitions[0]", runs(partitions=["2999-01-01"]), RUNS),
    post("runs-partition-number", 422, "partitions[0]", runs(partitions=[20170102]), RUNS),
    post("runs-bad-tenant", 400, "X-Tenant-ID", runs(), RUNS, headers={"X-Tenant-ID": "x" * 70}),
    get("run-unknown", f"{RUNS}/0b5e5f4e-0000-4000-8000-000000000000", 404, "run_id"),
    get("run-huge-id", f"{RUNS}/{'r' * 500}", 404, "run_id"),
    get("run-nul", f"{RUNS}/%00", 404, "run_id"),
    Bad("run-bad-tenant", "GET", f"{RUNS}/abc", 400, "X-Tenant-ID", headers={"X-Tenant-ID": "*"}),
]


def test_case_ids_are_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES)


def test_the_valid_baselines_are_valid(api: LiveApi) -> None:
    """Each case breaks exactly one thing of a request that is answered."""
    assert ASSET in tenant_paths(api.catalog, "default")
    assert "raw/rival/urn_acme_secret_output" in tenant_paths(api.catalog, "acme")
    assert api.client.post(ALIGN, json=body()).status_code == 200
    assert api.client.post(EXPORT, json=body()).status_code == 200
    assert api.client.get(DATA, params=query()).status_code == 200
    assert api.client.get(ENTITIES).status_code == 200


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refused_with_a_message_naming_the_field(api: LiveApi, case: Bad) -> None:
    answer = case.send(api.client)
    assert answer.status_code == case.status, answer.text
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()
    assert isinstance(error, dict) and list(error) == ["error"] and isinstance(error["error"], str), error
    named, sep, detail = error["error"].partition(": ")
    assert sep and detail.strip(), error
    assert named == case.named, error


def test_no_server_error_on_a_reused_connection(api: LiveApi) -> None:
    """All the cases again, back to back on one keep-alive connection: no 5xx, no dropped connection."""
    statuses = {case.id: case.send(api.client).status_code for case in CASES}
    assert {k: v for k, v in statuses.items() if v >= 500} == {}
    assert api.client.post(ALIGN, json=body()).status_code == 200


def test_unknown_paths_and_methods_answer_the_error_shape(api: LiveApi) -> None:
    for method, path, status in (("GET", "/api/datahub/nope", 404), ("DELETE", ALIGN, 405),
                                 ("GET", ALIGN, 405), ("PUT", RUNS, 405)):
        answer = api.client.request(method, path)
        assert answer.status_code == status
        assert list(answer.json()) == ["error"]


def test_non_ascii_tenant_header_bytes(api: LiveApi) -> None:
    """A header httpx would refuse to encode as text, sent as raw bytes: 400, not a 500."""
    answer = api.client.post(ALIGN, json=body(), headers=[(b"X-Tenant-ID", "tenant-ä".encode())])
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("X-Tenant-ID: ")


ARROW = "application/vnd.apache.arrow.stream"
@pytest.mark.parametrize(("path", "extra", "accept"), [
    (ALIGN, {}, "application/json"),
    (ALIGN, {}, ARROW),
    (ALIGN, {}, "text/csv"),
    (EXPORT, {"format": "csv"}, None),
    (EXPORT, {"format": "parquet"}, None),
], ids=["json", "arrow", "csv", "export-csv", "export-parquet"])
def test_a_series_asked_twice(api: LiveApi, path: str, extra: dict[str, str], accept: str | None) -> None:
    """The same series twice is refused with a 422 naming both places, whatever the format."""
    headers = {"Accept": accept} if accept else {}
    try:
        answer = api.client.post(path, json=body(series=[PLANT, PLANT], **extra), headers=headers)
        answer.read()
    except httpx.HTTPError as exc:  # a stream that broke after its 200
        raise AssertionError(f"the answer broke off: {exc!r}") from exc
    assert answer.status_code == 422, answer.text
    assert answer.json() == {"error": "series[1]: urn:demo:plant1.output is listed twice (also series[0])"}


def test_a_huge_bad_value_is_never_echoed_back(api: LiveApi) -> None:
    answer = api.client.post(ALIGN, json=body(tolerance="9" * 20_000_000))
    assert answer.status_code == 422 and len(answer.content) < 500
    assert answer.json()["error"].startswith("tolerance: '99999") and "(20,000,000 characters)" in answer.text


def test_a_point_grid_finer_than_a_microsecond_is_refused(api: LiveApi) -> None:
    answer = api.client.post(ALIGN, json=body(start_time="2017-01-02T00:00:00Z",
                                              end_time="2017-01-02T00:00:00.000001Z", resolution=3))
    assert answer.status_code == 422 and answer.json()["error"].startswith("resolution: 3 points over this window")
    assert api.client.post(ALIGN, json=body(resolution=3)).status_code == 200


@pytest.mark.parametrize(("accept", "kind"), [
    (f"{ARROW};q=0, application/json", "application/json"),
    (f"application/json;q=0.5, {ARROW}", ARROW),
    ("text/csv;q=0.9, application/*;q=0.8", "text/csv"),
    ("*/*", "application/json"),
    (f"{ARROW}, text/csv", ARROW),
    ("text/html, */*;q=0.1", "application/json"),
    ("", "application/json"),
])
def test_accept_q_values_are_honoured(api: LiveApi, accept: str, kind: str) -> None:
    answer = api.client.post(ALIGN, json=body(), headers={"Accept": accept})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind)


def test_nothing_acceptable_is_a_406(api: LiveApi) -> None:
    for accept in ("text/html", f"{ARROW};q=0, application/json;q=0, text/csv;q=0, */*;q=0"):
        answer = api.client.post(ALIGN, json=body(), headers={"Accept": accept})
        assert answer.status_code == 406 and answer.json()["error"].startswith("Accept: ")


def test_two_tenant_headers_are_a_400(api: LiveApi) -> None:
    answer = api.client.post(ALIGN, json=body(), headers=[("X-Tenant-ID", "default"), ("X-Tenant-ID", "acme")])
    assert answer.status_code == 400 and answer.json() == {"error": "X-Tenant-ID: given more than once"}
