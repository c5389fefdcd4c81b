"""Tenants see only their series; missing days are read through the same source resources."""

from __future__ import annotations

import concurrent.futures
import re
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl
import pytest

from datahub_assets.definitions import build_definitions
from datahub_assets.materialize import materialize_partitions
from resources.catalog import load_catalog
from resources.settings import Settings
from tests.api.conftest import LiveApi

ALIGN = "/api/datahub/timeseries/align"


def window(start: str, end: str, *series: tuple[str, str], **extra: object) -> dict[str, object]:
    return {"series": [{"entity_id": e, "attribute": a} for e, a in series], "start_time": start,
            "end_time": end, **extra}


def test_another_tenants_series_is_a_404_like_an_unknown_one(api: LiveApi) -> None:
    theirs = window("2017-01-02", "2017-01-03", ("urn:acme:secret", "output"))
    unknown = window("2017-01-02", "2017-01-03", ("urn:nobody:x", "output"))
    denied = api.client.post(ALIGN, json=theirs)
    assert denied.status_code == 404
    assert denied.json() == {"error": "series[0]: unknown series urn:acme:secret.output"}
    assert api.client.post(ALIGN, json=unknown).json() == {"error": "series[0]: unknown series urn:nobody:x.output"}
    mine = api.client.post(ALIGN, json=theirs, headers={"X-Tenant-ID": "acme"})
    assert mine.status_code == 200 and len(mine.json()["timestamps"]) == 1440
    # acme cannot read the default tenant's series either, and its data lands under its own lake path.
    assert api.client.post(ALIGN, json=window("2017-01-02", "2017-01-03", ("urn:demo:plant1", "output")),
                           headers={"X-Tenant-ID": "acme"}).status_code == 404
    assert (api.root / "lake/acme/raw/rival/urn_acme_secret_output/date=2017-01-02/data.parquet").is_file()
    assert not (api.root / "lake/default/raw/rival").exists()
    bad = api.client.post(ALIGN, json=theirs, headers={"X-Tenant-ID": "../etc"})
    assert bad.status_code == 400 and "X-Tenant-ID" in bad.json()["error"]
    acme_entities = api.client.get("/api/datahub/entities", headers={"X-Tenant-ID": "acme"}).json()["entities"]
    assert [e["id"] for e in acme_entities] == ["urn:acme:secret"]


def test_unknown_or_foreign_source_field_is_a_404(api: LiveApi) -> None:
    for source in ("nope", "rival"):
        answer = api.client.post(ALIGN, json={"series": [{"entity_id": "urn:demo:plant1", "attribute": "output",
                                                          "source": source}],
                                              "start_time": "2017-01-02", "end_time": "2017-01-03"})
        assert answer.status_code == 404
        assert answer.json() == {"error": f"series[0].source: unknown source {source!r}"}


def test_read_through_equals_materializing_first(api: LiveApi, tmp_path_factory: pytest.TempPathFactory) -> None:
    req = window("2017-01-05T00:00:00Z", "2017-01-07T00:00:00Z", ("urn:tetouan:zone1", "power"),
                 ("urn:demo:plant1", "output"), resolution="5m")
    lake_day = api.root / "lake/default/raw/tetouan/urn_tetouan_zone1_power/date=2017-01-05/data.parquet"
    assert not lake_day.exists()
    through = api.client.post(ALIGN, json=req).json()
    assert lake_day.is_file()  # closed days are written back

    other = tmp_path_factory.mktemp("materialized")
    defs = build_definitions(load_catalog(api.settings.catalog), Settings(lake=str(other / "lake")))
    with dg.instance_for_test() as instance:
        days = ["2017-01-04", "2017-01-05", "2017-01-06"]
        assert materialize_partitions("key:raw/tetouan/* or key:raw/plant/*", days, defs=defs, instance=instance,
                                      echo=lambda _: None) == []
    for day in ("2017-01-05", "2017-01-06"):
        for path in ("tetouan/urn_tetouan_zone1_power", "plant/urn_demo_plant1_output"):
            ours = pl.read_parquet(api.root / f"lake/default/raw/{path}/date={day}/data.parquet")
            assert ours.equals(pl.read_parquet(other / f"lake/default/raw/{path}/date={day}/data.parquet"))
    again = api.client.post(ALIGN, json=req).json()  # now from the lake
    assert again == through


def test_single_flight_one_fetch_for_concurrent_requests(api: LiveApi) -> None:
    def fetches() -> float:
        text = api.client.get("/metrics").text
        found = re.search(r'^datahub_read_through_fetches_total\{source="plant",tenant="default"\} (\S+)$', text, re.M)
        return float(found.group(1)) if found else 0.0

    before = fetches()
    req = window("2017-02-01T00:00:00Z", "2017-02-02T00:00:00Z", ("urn:demo:plant1", "temperature"))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: api.client.post(ALIGN, json=req), range(8)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert fetches() - before == 2  # one fetch per day: 2017-02-01 and the carry-in day 2017-01-31


def test_too_many_missing_days_is_a_409_naming_them(api: LiveApi) -> None:
    answer = api.client.post(ALIGN, json=window("2017-03-01", "2017-04-15", ("urn:demo:plant1", "output")))
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert "urn:demo:plant1.output: 46 days (2017-02-28..2017-04-14)" in error and "materialize" in error


def test_open_day_is_served_but_not_written_back(api: LiveApi) -> None:
    today = datetime.now(UTC).date()
    req = window(f"{today}T00:00:00Z", f"{today}T01:00:00Z", ("urn:demo:plant1", "output"))
    answer = api.client.post(ALIGN, json=req)
    assert answer.status_code == 200
    assert not (api.root / f"lake/default/raw/plant/urn_demo_plant1_output/date={today}").exists()
    assert date.fromisoformat(str(today)) == today


def test_empty_window_is_204(api: LiveApi) -> None:
    answer = api.client.post(ALIGN, json=window("2016-06-01", "2016-06-02", ("urn:tetouan:zone1", "power")))
    assert answer.status_code == 204 and answer.content == b""


def test_nothing_is_fetched_from_before_the_partitions(api: LiveApi) -> None:
    """The demo source would answer for any day; days before `partitions.start` are never read through."""
    answer = api.client.post(ALIGN, json=window("2016-12-30", "2016-12-31", ("urn:demo:plant1", "output")))
    assert answer.status_code == 204
    assert not (api.root / "lake/default/raw/plant/urn_demo_plant1_output/date=2016-12-30").exists()
