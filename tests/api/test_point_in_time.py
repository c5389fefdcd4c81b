"""Point-in-time truth over the API: revision history answered by `as_of` (lake on a folder and on S3), gap
filling flagged per cell, the same numbers from export and align, read-through recorded, discovery."""

from __future__ import annotations

import io
import json
import textwrap
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pyarrow as pa
import pytest

from datahub_assets.definitions import build_definitions
from datahub_assets.materialize import materialize_partitions
from resources.catalog import load_catalog
from resources.settings import Settings
from tests.api.conftest import LiveApi, start_api

ROOT = Path(__file__).resolve().parents[2]
ALIGN = "/api/datahub/timeseries/align"
ARROW = "application/vnd.apache.arrow.stream"
CATALOG = """\
partitions: {start: "2024-03-01", end: "2024-03-05"}
sources:
  meter: {kind: file, path: meter.csv, timestamp_column: ts}
series:
  - {entity: m1, attribute: kwh, source: meter, column: m1, cadence: 1h}
"""
BODY = {"series": [{"entity_id": "m1", "attribute": "kwh"}], "start_time": "2024-03-02T00:00:00Z",
        "end_time": "2024-03-02T04:00:00Z", "resolution": "1h", "tolerance": "1h"}


def meter(value_at_1: float | None, extra: str = "") -> str:
    one = "" if value_at_1 is None else str(value_at_1)
    return f"ts,m1\n2024-03-02T00:00:00Z,5\n2024-03-02T01:00:00Z,{one}\n2024-03-02T02:00:00Z,7\n{extra}"


def revise_three_times(root: Path, settings: Settings) -> list[str]:
    """Materialize 2024-03-02 three times, the 01:00 reading 10, then 11, then 12; the instants between."""
    catalog = load_catalog(root / "catalog.yaml")
    marks = []
    with dg.instance_for_test() as instance:
        for value in (10, 11, 12):
            (root / "meter.csv").write_text(meter(value))
            defs = build_definitions(catalog, settings)
            assert materialize_partitions("key:raw/*", ["2024-03-02"], defs=defs, instance=instance,
                                          echo=lambda _: None) == []
            time.sleep(0.05)
            marks.append(datetime.now(UTC).isoformat().replace("+00:00", "Z"))
            time.sleep(0.05)
    return marks


def values(api: LiveApi, **extra: Any) -> list[float | None]:
    answer = api.client.post(ALIGN, json={**BODY, **extra})
    assert answer.status_code == 200, answer.text
    return answer.json()["value_0"]


def project(root: Path) -> Path:
    (root / "catalog.yaml").write_text(textwrap.dedent(CATALOG))
    (root / "meter.csv").write_text(meter(10))
    return root / "catalog.yaml"


@pytest.fixture(scope="module", params=["folder", "s3"])
def revised(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            api_instance: dg.DagsterInstance) -> Iterator[tuple[LiveApi, list[str], str]]:
    root = tmp_path_factory.mktemp(f"pit-{request.param}")
    path = project(root)
    extra: dict[str, Any] = {}
    if request.param == "s3":
        from tests.conftest import S3_BUCKET
        from tests.s3 import ACCESS_KEY, SECRET_KEY

        endpoint = request.getfixturevalue("s3_endpoint")
        mp = request.getfixturevalue("monkeypatch_module")
        mp.setenv("S3_ACCESS_KEY", ACCESS_KEY)
        mp.setenv("S3_SECRET_KEY", SECRET_KEY)
        extra = {"lake": f"s3://{S3_BUCKET}/pit-{uuid.uuid4().hex[:8]}", "s3_endpoint": endpoint,
                 "s3_access_key": ACCESS_KEY, "s3_secret_key": SECRET_KEY}
    lake = extra.get("lake", str(root / "lake"))
    marks = revise_three_times(root, Settings(**{"lake": lake, **{k: v for k, v in extra.items() if k != "lake"}}))
    for api in start_api(root, path, api_instance, **extra):
        yield api, marks, lake


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_a_value_revised_twice_gives_three_answers_at_three_times(revised: tuple[LiveApi, list[str], str]) -> None:
    api, (t1, t2, t3), _ = revised
    assert values(api) == [5.0, 12.0, 7.0, 7.0]  # without as_of: the current partition
    assert values(api, as_of=t1) == [5.0, 10.0, 7.0, 7.0]
    assert values(api, as_of=t2) == [5.0, 11.0, 7.0, 7.0]
    assert values(api, as_of=t3) == [5.0, 12.0, 7.0, 7.0]
    early = api.client.post(ALIGN, json={**BODY, "as_of": "2024-01-01T00:00:00Z"})
    assert early.status_code == 204  # nothing was known yet
    entity = api.client.get("/api/datahub/timeseries/entities/m1/data", params={
        "time_from": BODY["start_time"], "time_to": BODY["end_time"], "resolution": "1h", "tolerance": "1h",
        "as_of": t1})
    assert entity.json()["value_0"] == [5.0, 10.0, 7.0, 7.0]
    export = api.client.post("/api/datahub/export", json={**BODY, "as_of": t2, "format": "csv"})
    assert pl.read_csv(io.BytesIO(export.content))["m1.kwh"].to_list() == [5.0, 11.0, 7.0, 7.0]


def test_the_current_partitions_stay_plain_to_readers(revised: tuple[LiveApi, list[str], str]) -> None:
    """A glob of `**/data.parquet` reads current readings only; the history lies beside, as its own file."""
    api, _, lake = revised
    options = None
    if lake.startswith("s3://"):
        from tests.s3 import ACCESS_KEY, REGION, SECRET_KEY

        options = {"aws_endpoint_url": api.settings.s3_endpoint or "", "aws_access_key_id": ACCESS_KEY,
                   "aws_secret_access_key": SECRET_KEY, "aws_region": REGION, "aws_allow_http": "true"}
    current = pl.read_parquet(f"{lake}/**/data.parquet", storage_options=options)
    assert current["value"].to_list() == [5.0, 12.0, 7.0]
    history = pl.read_parquet(f"{lake}/default/raw/meter/m1_kwh/date=2024-03-02/history.parquet",
                              storage_options=options)
    assert history.filter(pl.col("ts") == datetime(2024, 3, 2, 1, tzinfo=UTC))["value"].to_list() == [10, 11, 12]
    assert history.columns == ["ts", "value", "valid_from", "valid_to"]


# -- gap filling, quality, the same numbers everywhere -------------------------------------------------------



@pytest.fixture(scope="module")
def gappy(tmp_path_factory: pytest.TempPathFactory, api_instance: dg.DagsterInstance) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("gappy")
    (root / "catalog.yaml").write_text(textwrap.dedent(CATALOG))
    (root / "meter.csv").write_text("ts,m1\n2024-03-02T00:00:00Z,0\n2024-03-02T02:00:00Z,20\n"
                                    "2024-03-02T06:00:00Z,60\n")
    yield from start_api(root, root / "catalog.yaml", api_instance)


PLAIN = {k: v for k, v in BODY.items() if k != "tolerance"}
FILLED = {**PLAIN, "end_time": "2024-03-02T07:00:00Z", "fill": "linear", "max_gap": "2h", "quality": True}


def test_linear_fill_is_flagged_in_every_format(gappy: LiveApi) -> None:
    answer = gappy.client.post(ALIGN, json=FILLED)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["value_0"] == [0.0, 10.0, 20.0, None, None, None, 60.0]
    assert body["quality_0"] == [0, 2, 0, 3, 3, 3, 0]  # 02:00-06:00 is longer than max_gap: left missing
    arrow = pa.ipc.open_stream(gappy.client.post(ALIGN, json=FILLED, headers={"Accept": ARROW}).content).read_all()
    assert arrow.schema.names == ["timestamp", "value_0", "value_0__quality"]
    assert arrow.schema.field("value_0__quality").type == pa.uint8()
    assert arrow.column("value_0__quality").to_pylist() == [0, 2, 0, 3, 3, 3, 0]
    csv = pl.read_csv(io.BytesIO(gappy.client.post(ALIGN, json=FILLED, headers={"Accept": "text/csv"}).content))
    assert csv.columns == ["timestamp", "m1.kwh", "m1.kwh__quality"]
    plain = gappy.client.post(ALIGN, json={**FILLED, "quality": False}, headers={"Accept": "text/csv"})
    assert pl.read_csv(io.BytesIO(plain.content)).columns == ["timestamp", "m1.kwh"]  # opt-in
    carried = gappy.client.post(ALIGN, json={**BODY, "end_time": "2024-03-02T04:00:00Z", "tolerance": "1h",
                                             "quality": True}).json()
    assert carried["quality_0"] == [0, 1, 0, 1]


def test_export_with_a_resolution_holds_what_align_answers(gappy: LiveApi) -> None:
    body = {**BODY, "end_time": "2024-03-02T07:00:00Z", "resolution": "30m", "tolerance": "1h"}
    aligned = gappy.client.post(ALIGN, json=body).json()["value_0"]
    export = gappy.client.post("/api/datahub/export", json={**body, "format": "csv"})
    assert pl.read_csv(io.BytesIO(export.content))["m1.kwh"].to_list() == aligned
    calendar = {k: v for k, v in PLAIN.items() if k != "resolution"}
    hourly = gappy.client.post("/api/datahub/export", json={**calendar, "aggregation": "1 hour", "format": "csv",
                                                              "end_time": "2024-03-02T07:00:00Z"})
    assert pl.read_csv(io.BytesIO(hourly.content))["m1.kwh"].to_list()[:3] == [0.0, None, 20.0]  # means


def test_minmax_keeps_each_buckets_extremes(gappy: LiveApi) -> None:
    body = {**PLAIN, "end_time": "2024-03-02T08:00:00Z", "resolution": "4h", "method": "minmax"}
    got = gappy.client.post(ALIGN, json=body).json()
    assert got["value_0"] == [0.0, 20.0, 60.0, 60.0]  # two rows per bucket: min and max in time order


def test_a_read_through_write_back_is_recorded_as_the_raw_partition(gappy: LiveApi) -> None:
    day = {**BODY, "start_time": "2024-03-02T00:00:00Z", "end_time": "2024-03-03T00:00:00Z"}
    assert gappy.client.post(ALIGN, json=day).status_code == 200
    key = dg.AssetKey(["raw", "meter", "m1_kwh"])
    deadline = time.monotonic() + 20
    while "2024-03-02" not in gappy.instance.get_materialized_partitions(key) and time.monotonic() < deadline:
        time.sleep(0.2)
    event = gappy.instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None
    assert event.asset_materialization.partition == "2024-03-02"
    assert event.asset_materialization.metadata["materialized_by"].value == "api read-through"
    assert (gappy.root / "lake/default/raw/meter/m1_kwh/date=2024-03-02/data.parquet").is_file()


# -- discovery --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def discovering(tmp_path_factory: pytest.TempPathFactory, api_instance: dg.DagsterInstance) -> Iterator[LiveApi]:
    import sys

    root = tmp_path_factory.mktemp("discover")
    folder = root / "lab"
    folder.mkdir()
    lines = [{"t": f"2024-03-02T{h:02d}:00:00Z", "temp": 20 + h, "rh": 40 + h} for h in range(4)]
    (folder / "urn%3Alab%3A1.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (root / "catalog.yaml").write_text(textwrap.dedent(f"""\
        partitions: {{start: "2024-03-01", end: "2024-03-05"}}
        sources:
          lab: {{kind: "datahub_jsonl.source:JsonLinesSource", folder: "{folder}"}}
        series:
          - {{entity: "urn:lab:1", attribute: temp, source: lab}}
        """))
    sys.path.insert(0, str(ROOT / "examples" / "jsonl_plugin"))
    try:
        yield from start_api(root, root / "catalog.yaml", api_instance)
    finally:
        sys.path.remove(str(ROOT / "examples" / "jsonl_plugin"))


def test_discovered_series_are_listed_and_served_but_never_stored(discovering: LiveApi) -> None:
    (entity,) = discovering.client.get("/api/datahub/entities").json()["entities"]
    attributes = {a["name"]: a for a in entity["attributes"]}
    assert attributes["temp"]["discovered"] is False and attributes["temp"]["asset"] == "raw/lab/urn_lab_1_temp"
    assert attributes["rh"]["discovered"] is True and attributes["rh"]["asset"] is None
    body = {"series": [{"entity_id": "urn:lab:1", "attribute": "rh"}], "start_time": "2024-03-02T00:00:00Z",
            "end_time": "2024-03-02T04:00:00Z", "resolution": "1h"}
    assert discovering.client.post(ALIGN, json=body).json()["value_0"] == [40.0, 41.0, 42.0, 43.0]
    assert not (discovering.root / "lake/default/raw/lab/urn_lab_1_rh").exists()
    unknown = discovering.client.post(ALIGN, json={**body, "series": [{"entity_id": "urn:lab:1", "attribute": "co2"}]})
    assert unknown.status_code == 404
