"""Align over real HTTP: formats, NKZ names, request order, the engine's values cell by cell."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow as pa
import pytest

from datahub_assets.engine.align import align
from datahub_assets.window import read_many
from resources.registry import make_lake
from tests.api.conftest import LiveApi

ARROW = "application/vnd.apache.arrow.stream"
DAY2 = datetime(2017, 1, 2, tzinfo=UTC)


def body(*series: tuple[str, str], start: object = "2017-01-02T00:00:00Z", end: object = "2017-01-03T00:00:00Z",
         **extra: object) -> dict[str, object]:
    return {"series": [{"entity_id": e, "attribute": a} for e, a in series], "start_time": start,
            "end_time": end, **extra}


def engine_grid(api: LiveApi, ids: list[str], start: datetime, end: datetime, resolution: object,
                **kw: object) -> pl.DataFrame:
    """The engine called directly on the same lake: what every answer must equal."""
    by_id = api.catalog.series_by_id()
    series = [by_id[i] for i in ids]
    frames = read_many(make_lake(api.settings), api.catalog, series, start=start, end=end,
                       carry=kw.pop("carry", timedelta(minutes=15)))  # type: ignore[arg-type]
    return align(frames, [f"value_{i}" for i in range(len(ids))], start=start, end=end,
                 resolution=resolution, **kw).collect()  # type: ignore[arg-type]


def test_arrow_answer_equals_the_engine_cell_by_cell(api: LiveApi) -> None:
    req = body(("urn:demo:plant1", "output"), ("urn:tetouan:zone1", "power"), resolution="1m")
    answer = api.client.post("/api/datahub/timeseries/align", json=req, headers={"Accept": ARROW})
    assert answer.status_code == 200 and answer.headers["content-type"] == ARROW
    table = pa.ipc.open_stream(answer.content).read_all()
    assert table.schema.names == ["timestamp", "value_0", "value_1"]
    assert all(f.type == pa.float64() for f in table.schema)
    meta = table.schema.field("value_1").metadata
    assert meta[b"entity_id"] == b"urn:tetouan:zone1" and meta[b"attribute"] == b"power"
    assert meta[b"source"] == b"tetouan" and meta[b"unit"] == b"kW"
    want = engine_grid(api, ["urn:demo:plant1.output", "urn:tetouan:zone1.power"], DAY2, DAY2 + timedelta(days=1),
                       timedelta(minutes=1))
    assert table.num_rows == want.height == 1440
    stamps = table.column("timestamp").to_pylist()
    assert stamps == [t.timestamp() for t in want["ts"]]
    for i in range(2):
        assert table.column(f"value_{i}").to_pylist() == want[f"value_{i}"].to_list()


def test_json_and_csv_carry_the_same_grid(api: LiveApi) -> None:
    req = body(("urn:tetouan:zone2", "power"), ("urn:tetouan:weather", "temperature"), resolution="1h",
               method="mean")
    js = api.client.post("/api/datahub/timeseries/align", json=req).json()
    assert js["columns"] == [
        {"name": "value_0", "entity_id": "urn:tetouan:zone2", "attribute": "power", "source": "tetouan", "unit": "kW"},
        {"name": "value_1", "entity_id": "urn:tetouan:weather", "attribute": "temperature", "source": "tetouan",
         "unit": "degC"},
    ]
    assert len(js["timestamps"]) == 24 and js["timestamps"][0] == DAY2.timestamp()
    csv = api.client.post("/api/datahub/timeseries/align", json=req, headers={"Accept": "text/csv"})
    frame = pl.read_csv(csv.content)
    assert frame.columns == ["timestamp", "urn:tetouan:zone2.power", "urn:tetouan:weather.temperature"]
    assert frame["timestamp"][0] == "2017-01-02T00:00:00Z"
    assert frame["urn:tetouan:zone2.power"].to_list() == pytest.approx(js["value_0"])


def test_camel_case_aliases_and_epoch_times(api: LiveApi) -> None:
    req = {"series": [{"entityId": "urn:demo:plant1", "attribute": "output"}],
           "startTime": DAY2.timestamp(), "endTime": (DAY2 + timedelta(hours=1)).timestamp(), "resolution": 7}
    js = api.client.post("/api/datahub/timeseries/align", json=req).json()
    assert len(js["timestamps"]) == 7
    assert js["timestamps"][0] == DAY2.timestamp() and js["timestamps"][-1] == DAY2.timestamp() + 3600


def test_entity_data_and_entities(api: LiveApi) -> None:
    got = api.client.get("/api/datahub/timeseries/entities/urn:demo:plant1/data",
                         params={"time_from": "2017-01-02T00:00:00Z", "time_to": "2017-01-02T01:00:00Z",
                                 "resolution": "10", "attrs": "temperature,output"}).json()
    assert [c["attribute"] for c in got["columns"]] == ["temperature", "output"]
    assert len(got["timestamps"]) == 10
    entities = api.client.get("/api/datahub/entities").json()["entities"]
    plant = next(e for e in entities if e["id"] == "urn:demo:plant1")
    assert plant["source"] == "plant" and {a["name"] for a in plant["attributes"]} == {"output", "temperature"}
    assert all(e["id"] != "urn:acme:secret" for e in entities)
    only = api.client.get("/api/datahub/entities", params={"source": "meters"}).json()["entities"]
    assert [e["id"] for e in only] == ["urn:meter:7"]
    for unknown in ("nope", "rival"):  # another tenant's source is as unknown as a missing one
        answer = api.client.get("/api/datahub/entities", params={"source": unknown})
        assert answer.status_code == 404 and answer.json() == {"error": f"source: unknown source {unknown!r}"}


def test_openapi_documents_every_endpoint(api: LiveApi) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/health", "/api/datahub/entities", "/api/datahub/timeseries/align",
            "/api/datahub/timeseries/entities/{entity_id}/data", "/api/datahub/export",
            "/api/datahub/materializations", "/api/datahub/materializations/{run_id}"} <= paths
    assert api.client.get("/docs").status_code == 200
