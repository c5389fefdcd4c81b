"""The data canvas in headless Chromium against the live API: tree, chart, resolution, zoom, export, links,
shared URLs, tenancy and tokens."""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import jwt
import polars as pl
import pyarrow as pa
import pytest
from playwright.sync_api import Route

from tests.api.conftest import LiveApi
from tests.canvas.conftest import (
    ARTIFACTS,
    DAGSTER_UI,
    DAY1,
    PLANT_OUT,
    PLANT_TEMP,
    WEATHER,
    ZONE1,
    Canvas,
    build_page_or_fail,
    live_api,
)

ARROW = "application/vnd.apache.arrow.stream"
T0 = datetime(2017, 1, 2, tzinfo=UTC).timestamp()
DAY1_START, DAY1_END = T0, T0 + 86_400


pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def stroke(canvas: Canvas, label: str) -> str:
    """The colour uPlot strokes the series labelled `label` with."""
    index = canvas.probe(f"p.plot.series.findIndex(s => s.label === {json.dumps(label)})")
    assert index > 0, f"no series {label!r} drawn"
    return str(canvas.probe(f"p.plot.series[{index}].stroke(p.plot, {index})")).lower()


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


# ---- the tree ------------------------------------------------------------------------------------------


def test_page_loads_with_no_console_error(canvas: Canvas, api: LiveApi) -> None:
    canvas.open(**DAY1)
    assert canvas.probe("p.state") == "idle"
    icon = canvas.page.locator("link[rel=icon]").get_attribute("href")
    assert icon and api.client.get(f"/canvas/{icon.removeprefix('./')}").status_code == 200
    canvas.page.wait_for_load_state("networkidle")
    canvas.assert_clean()


def test_tree_groups_the_tenants_entities_by_source_and_searches(canvas: Canvas) -> None:
    canvas.open(**DAY1)
    tree = canvas.page.locator("#tree")
    assert tree.locator("details.source").evaluate_all("ds => ds.map(d => d.dataset.source)") == [
        "meters", "plant", "tetouan"]  # the default tenant's sources; acme's `rival` is not among them
    assert tree.locator("input[data-series]").count() == 6
    plant = tree.locator('details[data-source="plant"] input[data-series]')
    assert plant.evaluate_all("xs => xs.map(x => x.dataset.series)") == [PLANT_OUT, PLANT_TEMP]

    canvas.page.fill("#search", "temperature")
    shown = tree.locator("input[data-series]").evaluate_all("xs => xs.map(x => x.dataset.series)")
    assert shown == [PLANT_TEMP, WEATHER]  # one per source, both groups still there
    canvas.page.fill("#search", "zone kw")  # every word must match
    shown = tree.locator("input[data-series]").evaluate_all("xs => xs.map(x => x.dataset.series)")
    assert shown == [ZONE1, "tetouan|urn:tetouan:zone2|power"]
    canvas.page.fill("#search", "no such thing")
    assert tree.locator(".empty").text_content() == "Nothing matches."
    canvas.assert_clean()


def test_the_tree_is_the_tenants_own(canvas: Canvas) -> None:
    canvas.open(tenant="acme", **DAY1)
    assert canvas.page.locator("#tree input[data-series]").evaluate_all("xs => xs.map(x => x.dataset.series)") == [
        "rival|urn:acme:secret|output"]
    assert canvas.page.input_value("#tenant") == "acme"
    canvas.page.fill("#tenant", "")
    canvas.page.click("#who button[type=submit]")
    canvas.page.wait_for_function("document.querySelectorAll('#tree input[data-series]').length === 6")
    assert "tenant=" not in canvas.page.url
    canvas.assert_clean()


# ---- drawing -------------------------------------------------------------------------------------------


def test_two_series_of_two_sources_are_drawn_with_an_axis_per_unit(canvas: Canvas) -> None:
    canvas.open(**DAY1)
    canvas.pick(ZONE1)
    canvas.wait_drawn(1)
    canvas.pick(PLANT_TEMP)
    state = canvas.wait_drawn(2)
    body = canvas.last_query()
    assert [s["source"] for s in body["series"]] == ["tetouan", "plant"]
    assert (body["start_time"], body["end_time"]) == ("2017-01-02T00:00:00Z", "2017-01-03T00:00:00Z")
    assert state["rows"] > 100
    zone1, plant = stroke(canvas, "zone1.power"), stroke(canvas, "plant1.temperature")
    assert zone1 != plant
    # the plot area's pixels differ from its (transparent) background in each series' colour
    assert canvas.pixels(zone1) > 300 and canvas.pixels(plant) > 300, "both series drawn"
    # one y axis per unit: kW on the left, degC on the right
    assert canvas.probe("p.plot.axes.slice(1).map(a => [a.label, a.scale, a.side])") == [
        ["kW", "y0", 3], ["degC", "y1", 1]]
    assert canvas.probe("p.plot.series.slice(1).map(s => s.scale)") == ["y0", "y1"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    canvas.page.screenshot(path=ARTIFACTS / "canvas.png")
    canvas.assert_clean()


def test_resolution_fixed_or_from_the_viewport(canvas: Canvas) -> None:
    canvas.open(ZONE1, PLANT_TEMP, **DAY1)
    first = canvas.wait_drawn(1)
    auto = canvas.last_query()
    columns = canvas.probe("p.plot.bbox.width / devicePixelRatio")
    assert isinstance(auto["resolution"], int) and 0.8 * columns <= auto["resolution"] <= 1.05 * columns
    assert auto["method"] == ("minmax" if first["capabilities"]["minmax"] else "mean")

    for choice, resolution, method, rows in [("1h", "1h", "mean", 24), ("1d", "1d", "mean", 1),
                                             ("raw", "raw", "locf", None), ("1m", "1m", "mean", 1440)]:
        n = len(canvas.probe("p.queries"))
        canvas.page.select_option("#resolution", choice)
        state = canvas.wait_drawn(n + 1)
        body = canvas.last_query()
        assert (body["resolution"], body["method"]) == (resolution, method)
        assert parse_qs(urlsplit(canvas.page.url).query)["res"] == [choice]
        if rows is not None:
            assert state["rows"] == rows
        else:  # raw: the union of both series' stamps (1m and 10m), all in the window
            assert state["rows"] == 1440
    n = len(canvas.probe("p.queries"))
    canvas.page.select_option("#resolution", "auto")
    canvas.wait_drawn(n + 1)
    assert canvas.last_query()["resolution"] == auto["resolution"]
    assert "res" not in parse_qs(urlsplit(canvas.page.url).query)
    canvas.assert_clean()


def test_a_short_window_of_few_points_asks_for_raw(canvas: Canvas) -> None:
    canvas.open(ZONE1, PLANT_OUT, **{"from": "2017-01-02T00:00:00Z", "to": "2017-01-02T06:00:00Z"})
    canvas.wait_drawn(1)
    assert (canvas.last_query()["resolution"], canvas.last_query()["method"]) == ("raw", "locf")
    canvas.assert_clean()


def add_minmax(route: Route) -> None:
    """The API's own OpenAPI document, with `minmax` among align's methods."""
    response = route.fetch()
    doc = response.json()
    method = doc["components"]["schemas"]["AlignRequest"]["properties"]["method"]
    if "minmax" not in method["enum"]:
        method["enum"].append("minmax")
    route.fulfill(response=response, body=json.dumps(doc))


def test_minmax_when_the_api_lists_it_and_mean_when_it_refuses(canvas: Canvas) -> None:
    canvas.page.route("**/openapi.json", add_minmax)
    canvas.open(ZONE1, PLANT_TEMP, **DAY1)
    state = canvas.wait_drawn(1)
    methods = [q["method"] for q in state["queries"]]
    assert methods[0] == "minmax"
    if len(methods) == 1:  # this API has minmax: two rows per pixel column
        assert state["rows"] <= 2 * state["queries"][0]["resolution"] + 2
    else:  # it does not: refused once (422), then the bucket mean on the same columns
        assert methods == ["minmax", "mean"]
        assert state["queries"][1]["resolution"] == state["queries"][0]["resolution"]
        assert all("422" in e for e in canvas.errors), canvas.errors
        # the refusal is remembered: the next request asks for mean straight away
        canvas.page.select_option("#resolution", "1h")
        canvas.wait_drawn(3)
        canvas.page.select_option("#resolution", "auto")
        canvas.wait_drawn(4)
        assert [q["method"] for q in canvas.probe("p.queries")] == ["minmax", "mean", "mean", "mean"]


def test_zoom_by_drag_asks_for_the_narrower_window(canvas: Canvas) -> None:
    canvas.open(ZONE1, PLANT_TEMP, **DAY1)
    canvas.wait_drawn(1)
    canvas.drag(0.25, 0.5)
    canvas.wait_drawn(2)
    body = canvas.last_query()
    start, end = seconds(body["start_time"]), seconds(body["end_time"])
    assert abs(start - (T0 + 6 * 3600)) < 0.02 * 86_400 and abs(end - (T0 + 12 * 3600)) < 0.02 * 86_400
    assert body["resolution"] == "raw"  # 6 hours of 1m and 10m series: fewer points than pixel columns
    query = parse_qs(urlsplit(canvas.page.url).query)
    assert (seconds(query["from"][0]), seconds(query["to"][0])) == (start, end)
    assert canvas.probe("p.plot.scales.x.min") == start and canvas.probe("p.plot.scales.x.max") == end
    canvas.page.go_back()  # the zoom is a step of the history
    canvas.wait_drawn(3)
    assert (canvas.last_query()["start_time"], canvas.last_query()["end_time"]) == (DAY1["from"], DAY1["to"])
    canvas.assert_clean()


def test_window_presets_and_panning(canvas: Canvas) -> None:
    canvas.open(PLANT_OUT, **DAY1)
    canvas.wait_drawn(1)
    canvas.page.click("#presets button[data-span='21600']")  # 6h ending where the window ended
    canvas.wait_drawn(2)
    assert (canvas.last_query()["start_time"], canvas.last_query()["end_time"]) == (
        "2017-01-02T18:00:00Z", "2017-01-03T00:00:00Z")
    canvas.page.click("#pan-left")
    canvas.wait_drawn(3)
    assert canvas.last_query()["start_time"] == "2017-01-02T15:00:00Z"
    canvas.page.fill("#from", "2017-01-01T00:00")
    canvas.page.dispatch_event("#from", "change")
    canvas.wait_drawn(4)
    assert (canvas.last_query()["start_time"], canvas.last_query()["end_time"]) == (
        "2017-01-01T00:00:00Z", "2017-01-02T21:00:00Z")
    canvas.assert_clean()


# ---- gaps and quality flags (answers made here, so they hold whatever the data) ------------------------------


Column = tuple[str, Sequence[float | None], Sequence[int] | None]  # series key, values, quality codes


def arrow_answer(x: Sequence[float], columns: Sequence[Column]) -> bytes:
    """An align answer as the API writes it: `timestamp`, then `value_i` (+ `value_i__quality`)."""
    fields = [pa.field("timestamp", pa.float64())]
    arrays: list[pa.Array] = [pa.array(x, pa.float64())]
    for i, (key, values, quality) in enumerate(columns):
        source, entity, attribute = key.split("|")
        meta = {"entity_id": entity, "attribute": attribute, "source": source, "unit": "kW"}
        fields.append(pa.field(f"value_{i}", pa.float64(), metadata=meta))
        arrays.append(pa.array(values, pa.float64()))
        if quality is not None:
            fields.append(pa.field(f"value_{i}__quality", pa.uint8()))
            arrays.append(pa.array(quality, pa.uint8()))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


MINUTES = 1000
X = [T0 + 60 * i for i in range(MINUTES)]
WINDOW = {"from": "2017-01-02T00:00:00Z", "to": "2017-01-02T16:40:00Z", "res": "1m"}


def answer_with(canvas: Canvas, body: bytes) -> None:
    canvas.page.route("**/api/datahub/timeseries/align",
                      lambda route: route.fulfill(status=200, headers={"content-type": ARROW}, body=body))


def test_gaps_are_drawn_as_gaps_never_as_lines_to_zero(canvas: Canvas) -> None:
    dense = [None if 400 <= i < 600 else 100 + 10 * math.sin(i / 50) for i in range(MINUTES)]
    sparse = [50 + 10 * math.cos(i / 80) if i % 10 == 0 else None for i in range(MINUTES)]  # 10m on a 1m grid
    answer_with(canvas, arrow_answer(X, [(PLANT_OUT, dense, None), (ZONE1, sparse, None)]))
    canvas.open(PLANT_OUT, ZONE1, **WINDOW)
    canvas.wait_drawn(1)
    dense_color, sparse_color = stroke(canvas, "plant1.output"), stroke(canvas, "zone1.power")
    assert canvas.pixels(dense_color, X[420], X[580]) == 0, "the 200-minute gap is not bridged"
    assert canvas.pixels(dense_color, X[100], X[300]) > 200
    assert canvas.probe("p.plot.scales.y0.min") > 30, "no zero drawn for the missing cells"
    assert canvas.pixels(dense_color, y_from=0.9, y_to=1.0) == 0
    # a series coarser than the grid is one line, not dots: every stretch of the window has some of it
    for k in range(20):
        assert canvas.pixels(sparse_color, X[k * 49 + 2], X[k * 49 + 47]) > 5, k
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    canvas.page.locator("#chart").screenshot(path=ARTIFACTS / "canvas-gaps.png")
    canvas.assert_clean()


def test_carried_and_interpolated_cells_are_drawn_dashed_and_lighter(canvas: Canvas) -> None:
    values = [100 + 10 * math.sin(i / 50) for i in range(MINUTES)]
    quality = [0] * MINUTES
    for i in range(400, 600):
        values[i], quality[i] = values[399], 1  # carried forward
    for i in range(700, 760):
        quality[i] = 2  # interpolated
    answer_with(canvas, arrow_answer(X, [(PLANT_OUT, values, quality)]))
    canvas.open(PLANT_OUT, **WINDOW)
    state = canvas.wait_drawn(1)
    assert state["filled"] == [True]
    assert canvas.probe("p.plot.series.length") == 3 and canvas.probe("p.plot.series[2].dash") == [6, 4]
    solid, light = stroke(canvas, "plant1.output"), stroke(canvas, "plant1.output · carried / interpolated")
    assert solid != light
    assert canvas.pixels(solid, X[420], X[580]) == 0 and canvas.pixels(light, X[420], X[580]) > 30
    assert canvas.pixels(light, X[710], X[750]) > 5 and canvas.pixels(solid, X[710], X[750]) == 0
    # where measured, the solid line (the lighter colour appears only on its anti-aliased edges)
    measured_solid, measured_light = canvas.pixels(solid, X[100], X[300]), canvas.pixels(light, X[100], X[300])
    assert measured_solid > 200 and measured_light < 0.1 * measured_solid
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    canvas.page.locator("#chart").screenshot(path=ARTIFACTS / "canvas-quality.png")
    canvas.assert_clean()


def test_a_window_without_readings_is_said_so(canvas: Canvas) -> None:
    canvas.open(ZONE1, **{"from": "2030-01-01T00:00:00Z", "to": "2030-01-02T00:00:00Z"})
    canvas.page.wait_for_function("window.__canvas.state === 'empty'")
    assert "No reading" in (canvas.page.text_content("#status") or "")
    canvas.assert_clean()


# ---- export --------------------------------------------------------------------------------------------


def download(canvas: Canvas, fmt: str, aggregation: str) -> bytes:
    canvas.page.select_option("#export-format", fmt)
    canvas.page.select_option("#export-aggregation", aggregation)
    with canvas.page.expect_download() as info:
        canvas.page.click("#export")
    path = info.value.path()
    assert info.value.suggested_filename.endswith(f".{fmt}")
    with open(path, "rb") as handle:
        return handle.read()


def export_body(series: Sequence[str], fmt: str, aggregation: str, start: str, end: str) -> dict[str, Any]:
    return {"series": [dict(zip(("source", "entity_id", "attribute"), s.split("|"), strict=True)) for s in series],
            "start_time": start, "end_time": end, "aggregation": aggregation, "format": fmt}


def test_csv_download_of_the_view(canvas: Canvas, api: LiveApi) -> None:
    canvas.open(ZONE1, PLANT_TEMP, **DAY1)
    canvas.wait_drawn(1)
    data = download(canvas, "csv", "1 hour")
    lines = data.decode().splitlines()
    assert lines[0] == "timestamp,urn:tetouan:zone1.power,urn:demo:plant1.temperature"
    assert len(lines) == 1 + 24
    assert lines[1].startswith("2017-01-02T00:00:00") and lines[-1].startswith("2017-01-02T23:00:00")
    assert all(len(line.split(",")) == 3 and all(line.split(",")) for line in lines[1:])
    same = api.client.post("/api/datahub/export",
                           json=export_body([ZONE1, PLANT_TEMP], "csv", "1 hour", DAY1["from"], DAY1["to"]))
    assert same.content == data, "the page hands over exactly what the export endpoint gives"
    raw = download(canvas, "csv", "raw").decode().splitlines()
    assert raw[0] == lines[0] and len(raw) == 1 + 1440
    canvas.assert_clean()


def test_parquet_download_of_the_view(canvas: Canvas) -> None:
    canvas.open(ZONE1, PLANT_TEMP, **{"from": "2017-01-01T00:00:00Z", "to": "2017-01-04T00:00:00Z"})
    canvas.wait_drawn(1)
    frame = pl.read_parquet(io.BytesIO(download(canvas, "parquet", "1 day")))
    assert frame.columns == ["timestamp", "urn:tetouan:zone1.power", "urn:demo:plant1.temperature"]
    assert frame.height == 3 and frame.null_count().row(0) == (0, 0, 0)
    assert frame["timestamp"].dt.strftime("%Y-%m-%d").to_list() == ["2017-01-01", "2017-01-02", "2017-01-03"]
    canvas.assert_clean()


# ---- links and shared views ----------------------------------------------------------------------------------


def test_each_series_links_to_its_asset_and_partition(canvas: Canvas) -> None:
    canvas.open(ZONE1, **DAY1)
    canvas.wait_drawn(1)
    want = f"{DAGSTER_UI}/assets/raw/tetouan/urn_tetouan_zone1_power?view=partitions&partition=2017-01-02"
    assert canvas.page.get_attribute(f'#picked li[data-series="{ZONE1}"] a.asset', "href") == want
    row = canvas.page.locator(".attr", has=canvas.page.locator(f'input[data-series="{ZONE1}"]'))
    assert row.locator("a.asset").get_attribute("href") == want
    assert row.locator("a.asset").get_attribute("target") == "_blank"
    plant = canvas.page.locator(".attr", has=canvas.page.locator(f'input[data-series="{PLANT_OUT}"]'))
    assert plant.locator("a.asset").get_attribute("href") == want.replace(
        "tetouan/urn_tetouan_zone1_power", "plant/urn_demo_plant1_output")
    canvas.page.click("#pan-right")  # the partition follows the window's last day
    canvas.wait_drawn(2)
    assert canvas.page.get_attribute(f'#picked li[data-series="{ZONE1}"] a.asset', "href") == want.replace(
        "2017-01-02", "2017-01-03")
    canvas.assert_clean()


def test_the_url_holds_the_view(canvas: Canvas, canvas_for: Callable[[LiveApi], Canvas], api: LiveApi) -> None:
    canvas.open(**DAY1)
    canvas.pick(PLANT_TEMP)
    canvas.wait_drawn(1)
    canvas.pick(ZONE1)
    canvas.wait_drawn(2)
    canvas.page.select_option("#resolution", "1h")
    canvas.wait_drawn(3)
    canvas.drag(0.0, 0.5)
    canvas.wait_drawn(4)
    shown = canvas.last_query()
    query = parse_qs(urlsplit(canvas.page.url).query)
    assert query["s"] == [PLANT_TEMP, ZONE1] and query["res"] == ["1h"]

    other = canvas_for(api)  # another tab opening the shared link sees the same view
    other.page.goto(canvas.page.url)
    other.wait_drawn(1)
    assert other.last_query() == shown
    assert other.page.input_value("#resolution") == "1h"
    checked = other.page.locator("#tree input:checked").evaluate_all("xs => xs.map(x => x.dataset.series)")
    assert sorted(checked) == sorted([PLANT_TEMP, ZONE1])
    assert other.page.locator("#picked li").evaluate_all("xs => xs.map(x => x.dataset.series)") == [PLANT_TEMP, ZONE1]
    canvas.assert_clean()
    other.assert_clean()


def test_a_shared_link_to_series_of_another_tenant_leaves_them_out(canvas: Canvas) -> None:
    canvas.open("rival|urn:acme:secret|output", PLANT_OUT, **DAY1)
    canvas.wait_drawn(1)
    assert canvas.last_query()["series"] == [{"entity_id": "urn:demo:plant1", "attribute": "output",
                                              "source": "plant"}]
    assert "left out: urn:acme:secret.output" in (canvas.page.text_content("#status") or "")
    assert parse_qs(urlsplit(canvas.page.url).query)["s"] == [PLANT_OUT]
    canvas.assert_clean()


# ---- bearer tokens -----------------------------------------------------------------------------------------

SECRET = "canvas-test-secret"


@pytest.fixture(scope="module")
def jwt_api(tmp_path_factory: pytest.TempPathFactory, canvas_instance: dg.DagsterInstance) -> Iterator[LiveApi]:
    build_page_or_fail()
    yield from live_api(tmp_path_factory.mktemp("canvas-jwt"), canvas_instance, jwt_secret=SECRET)


def test_with_tokens_the_page_asks_for_one_and_the_token_decides_the_tenant(
    jwt_api: LiveApi, canvas_for: Callable[[LiveApi], Canvas],
) -> None:
    token = jwt.encode({"tenant_id": "acme", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
    canvas = canvas_for(jwt_api)
    canvas.open("rival|urn:acme:secret|output", **DAY1)
    assert canvas.probe("p.state") == "token"
    assert canvas.page.is_visible("#token")
    assert not [r for r in canvas.requests if "/api/datahub/" in r.url], "nothing asked without a token"
    canvas.page.fill("#token", token)
    canvas.page.click("#who button[type=submit]")
    canvas.wait_drawn(1)
    assert canvas.page.locator("#tree input[data-series]").evaluate_all("xs => xs.map(x => x.dataset.series)") == [
        "rival|urn:acme:secret|output"]
    assert all(r.headers.get("authorization") == f"Bearer {token}"
               for r in canvas.requests if "/api/datahub/" in r.url)
    canvas.assert_clean()

    linked = canvas_for(jwt_api)  # a token in the fragment: used, kept for the tab, taken out of the URL
    linked.open("rival|urn:acme:secret|output", hash=f"#token={token}", **DAY1)
    linked.wait_drawn(1)
    assert "#" not in linked.page.url and "token" not in linked.page.url
    linked.assert_clean()
