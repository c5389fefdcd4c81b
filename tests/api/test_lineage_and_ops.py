"""Lineage events of on-demand work, /metrics and /health."""

from __future__ import annotations

import time
from typing import Any

import dagster as dg

from tests.api.conftest import LiveApi


def events(instance: dg.DagsterInstance, name: str) -> list[dict[str, Any]]:
    result = instance.fetch_materializations(dg.AssetKey(["ondemand", name]), limit=1000)
    out = []
    for record in result.records:
        mat = record.asset_materialization
        assert mat is not None
        out.append({k: v.value for k, v in mat.metadata.items()})
    return out


def wait_for(predicate: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("the lineage event did not appear in time")


def test_aligns_and_exports_are_recorded_as_materializations(api: LiveApi) -> None:
    body = {"series": [{"entity_id": "urn:demo:plant1", "attribute": "temperature"},
                       {"entity_id": "urn:tetouan:zone2", "attribute": "power"}],
            "start_time": "2017-01-03T06:00:00Z", "end_time": "2017-01-03T07:00:00Z", "resolution": "1m"}
    for _ in range(3):
        assert api.client.post("/api/datahub/timeseries/align", json=body).status_code == 200

    def align_events() -> list[dict[str, Any]] | None:
        # The writer sums the requests of one flush; the three may fall into one flush or several.
        found = [m for m in events(api.instance, "align") if m["window_start"] == 1483423200.0]
        return found if sum(m["requests"] for m in found) >= 3 else None

    for meta in wait_for(align_events):
        assert meta["series"] == ["urn:demo:plant1.temperature", "urn:tetouan:zone2.power"]
        assert meta["window_end"] == 1483426800.0 and meta["tenant"] == "default"
        assert meta["rows"] == 60 * meta["requests"]

    export = {**body, "format": "csv", "start_time": "2017-01-03T08:00:00Z", "end_time": "2017-01-03T09:00:00Z",
              "resolution": "1h"}
    assert api.client.post("/api/datahub/export", json=export).status_code == 200
    exported = wait_for(lambda: [m for m in events(api.instance, "export") if m["window_start"] == 1483430400.0])
    assert exported[0]["requests"] == 1 and exported[0]["rows"] == 1 and exported[0]["detail"] == "csv"


def test_metrics_are_prometheus_exposition(api: LiveApi) -> None:
    api.client.post("/api/datahub/timeseries/align", json={
        "series": [{"entity_id": "urn:demo:plant1", "attribute": "output"}],
        "start_time": "2017-01-02T00:00:00Z", "end_time": "2017-01-02T01:00:00Z"})
    answer = api.client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert "# TYPE http_requests_total counter" in text
    assert 'handler="/api/datahub/timeseries/align"' in text
    assert "# TYPE http_request_duration_seconds histogram" in text
    assert 'datahub_rows_served_total{endpoint="align"}' in text
    assert 'datahub_lake_partition_hits_total{source="plant",tenant="default"}' in text
    assert "datahub_lineage_events_total" in text and "datahub_lineage_failures_total" in text


def test_health_reports_lake_and_instance(api: LiveApi) -> None:
    assert api.client.get("/health").json() == {"status": "ok", "lake": "ok", "instance": "ok"}
