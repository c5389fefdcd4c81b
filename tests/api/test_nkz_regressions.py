"""The NKZ backend's known failures, each shown not to happen here."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa

from tests.api.conftest import LiveApi

ALIGN = "/api/datahub/timeseries/align"
EXPORT = "/api/datahub/export"


def sel(entity: str, attribute: str) -> dict[str, str]:
    return {"entity_id": entity, "attribute": attribute}


def test_mixed_sources_align_in_request_order(api: LiveApi) -> None:
    series = [sel("urn:meter:7", "energy"), sel("urn:demo:plant1", "output"), sel("urn:tetouan:zone1", "power")]
    for order in (series, series[::-1]):
        js = api.client.post(ALIGN, json={"series": order, "start_time": "2017-01-02T00:00:00Z",
                                          "end_time": "2017-01-02T06:00:00Z", "resolution": "15m"}).json()
        assert [c["entity_id"] for c in js["columns"]] == [s["entity_id"] for s in order]
        assert all(None not in js[f"value_{i}"] for i in range(3))


def test_float_seconds_and_datetimes_merge(api: LiveApi) -> None:
    """meters.csv stamps are fractional epoch seconds (xx:xx:00.5); tetouan's are datetimes."""
    js = api.client.post(ALIGN, json={"series": [sel("urn:meter:7", "energy"), sel("urn:tetouan:zone1", "power")],
                                      "start_time": "2017-01-02T00:00:00Z", "end_time": "2017-01-02T01:00:00Z",
                                      "resolution": "raw"}).json()
    stamps = js["timestamps"]
    start = datetime(2017, 1, 2, tzinfo=UTC).timestamp()
    assert start + 0.5 in stamps and start + 600 in stamps  # both kinds of stamp on one union grid
    assert stamps == sorted(stamps)
    at = stamps.index(start + 600)
    assert js["value_0"][at] == 96 * 1.5  # meter reading of 00:00:00.5 carried to 00:10


def test_thirty_day_window_is_never_truncated(api: LiveApi) -> None:
    js = api.client.post(ALIGN, json={"series": [sel("urn:demo:plant1", "temperature")],
                                      "start_time": "2017-01-01T00:00:00Z", "end_time": "2017-01-31T00:00:00Z",
                                      "resolution": "1h", "method": "mean"}).json()
    assert len(js["timestamps"]) == 720 and None not in js["value_0"]


def test_seven_days_at_one_day_aggregation_are_seven_rows(api: LiveApi) -> None:
    answer = api.client.post(EXPORT, json={"series": [sel("urn:tetouan:zone1", "power")], "format": "csv",
                                           "start_time": "2017-01-03T00:00:00Z", "end_time": "2017-01-10T00:00:00Z",
                                           "aggregation": "1 day"})
    frame = pl.read_csv(io.BytesIO(answer.content))
    assert frame.height == 7
    assert frame["timestamp"].to_list() == [f"2017-01-{d:02d}T00:00:00Z" for d in range(3, 10)]


def test_csv_of_25001_rows_has_one_header(api: LiveApi) -> None:
    with api.client.stream("POST", EXPORT, json={
        "series": [sel("urn:demo:plant1", "output"), sel("urn:demo:plant1", "temperature")], "format": "csv",
        "start_time": "2017-01-01T00:00:00Z", "end_time": "2017-01-10T00:00:00Z", "resolution": 25001,
        "method": "locf",
    }) as answer:
        assert answer.status_code == 200 and answer.headers.get("transfer-encoding") == "chunked"
        lines = [line for line in answer.iter_lines() if line]
    assert len(lines) == 25002
    assert sum(line.startswith("timestamp,") for line in lines) == 1
    assert lines[0] == "timestamp,urn:demo:plant1.output,urn:demo:plant1.temperature"


def test_a_mid_sized_arrow_answer_is_built_whole_and_text_of_that_size_streams(api: LiveApi) -> None:
    body = {"series": [sel("urn:demo:plant1", "output"), sel("urn:demo:plant1", "temperature")],
            "start_time": "2017-01-01T00:00:00Z", "end_time": "2017-01-10T00:00:00Z", "resolution": 25001,
            "method": "locf"}  # 75,003 cells: over the text limit, under Arrow's
    arrow = api.client.post(ALIGN, json=body, headers={"Accept": "application/vnd.apache.arrow.stream"})
    assert arrow.status_code == 200 and "transfer-encoding" not in arrow.headers
    assert int(arrow.headers["content-length"]) == len(arrow.content)
    table = pa.ipc.open_stream(arrow.content).read_all()
    assert table.num_rows == 25001 and table.num_columns == 3
    with api.client.stream("POST", ALIGN, json=body, headers={"Accept": "text/csv"}) as text:
        assert text.status_code == 200 and text.headers.get("transfer-encoding") == "chunked"
