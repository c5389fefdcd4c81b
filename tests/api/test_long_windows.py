"""Long windows: an answer too large to hold is computed and streamed day by day (Arrow, CSV), equal to the
engine's whole grid; JSON, which cannot stream by rows, is refused past the cell cap."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pyarrow as pa
import pytest

from datahub_assets.definitions import build_definitions
from datahub_assets.engine.align import align
from datahub_assets.materialize import materialize_partitions
from datahub_assets.window import read_many
from resources.catalog import load_catalog
from resources.registry import make_lake
from resources.settings import Settings
from tests.api.conftest import LiveApi, start_api

CATALOG = """\
partitions: {start: "2024-01-01", end: "2024-01-05"}
sources:
  fast: {kind: demo, seed: 3, cadence: 1s, schedule: off}
series:
  - {entity: f1, attribute: v, source: fast, cadence: 1s}
  - {entity: f2, attribute: v, source: fast, cadence: 1s}
"""
START, END = datetime(2024, 1, 2, 6, tzinfo=UTC), datetime(2024, 1, 4, 18, tzinfo=UTC)  # 2.5 days, 216,000 rows
BODY = {"series": [{"entity_id": "f1", "attribute": "v"}, {"entity_id": "f2", "attribute": "v"}],
        "start_time": START.isoformat(), "end_time": END.isoformat(), "resolution": "1s", "tolerance": "2s"}
ARROW = "application/vnd.apache.arrow.stream"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, api_instance: dg.DagsterInstance) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("long")
    (root / "catalog.yaml").write_text(CATALOG)
    defs = build_definitions(load_catalog(root / "catalog.yaml"), Settings(lake=str(root / "lake")))
    assert materialize_partitions("*", ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"], defs=defs,
                                  instance=api_instance, echo=lambda _: None) == []
    # Small caps: 100,000 cells held whole, 40 MB in flight; this answer is 432,000 cells (about 10 MB a day).
    yield from start_api(root, root / "catalog.yaml", api_instance, max_cells=100_000,
                         max_bytes_in_flight=40 * 2**20)


def engine(api: LiveApi) -> pl.DataFrame:
    frames = read_many(make_lake(api.settings), api.catalog, api.catalog.series, start=START, end=END,
                       carry=timedelta(seconds=2))
    return align(frames, ["value_0", "value_1"], start=START, end=END, resolution=timedelta(seconds=1),
                 tolerance=timedelta(seconds=2)).collect()


def test_arrow_and_csv_stream_day_by_day_and_equal_the_whole_grid(api: LiveApi) -> None:
    truth = engine(api)
    assert truth.height == 216_000
    with api.client.stream("POST", "/api/datahub/timeseries/align", json=BODY, headers={"Accept": ARROW}) as answer:
        assert answer.status_code == 200 and answer.headers.get("transfer-encoding") == "chunked"
        body = answer.read()
    batches = list(pa.ipc.open_stream(body))
    table = pa.Table.from_batches(batches)
    assert table.num_rows == truth.height and len(batches) > 3
    assert table.column("timestamp").to_pylist() == (truth["ts"].cast(pl.Int64) / 1e6).to_list()
    for name in ("value_0", "value_1"):
        assert table.column(name).to_pylist() == truth[name].to_list()
    csv = api.client.post("/api/datahub/timeseries/align", json=BODY, headers={"Accept": "text/csv"})
    frame = pl.read_csv(io.BytesIO(csv.content))
    assert frame.height == truth.height and frame.columns == ["timestamp", "f1.v", "f2.v"]
    assert frame["f1.v"].to_list() == truth["value_0"].to_list()


def test_json_cannot_stream_by_rows_and_is_refused_past_the_cap(api: LiveApi) -> None:
    answer = api.client.post("/api/datahub/timeseries/align", json=BODY)
    assert answer.status_code == 413 and "DATAHUB_MAX_CELLS" in answer.json()["error"]


def test_a_csv_export_streams_too(api: LiveApi) -> None:
    answer = api.client.post("/api/datahub/export", json={**BODY, "format": "csv"})
    assert answer.status_code == 200
    assert pl.read_csv(io.BytesIO(answer.content)).height == 216_000
