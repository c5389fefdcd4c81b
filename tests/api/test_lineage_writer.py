"""The lineage writer never blocks or fails a request: drops and failures are counted."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from api.lineage import LineageRecorder, Work, events
from api.metrics import Metrics

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def work(kind: str, tenant: str, series: tuple[str, ...], hours: int, rows: int) -> Work:
    return Work(kind, tenant, series, T0, T0 + timedelta(hours=hours), rows)


def test_aligns_aggregate_per_tenant_exports_one_each() -> None:
    batch = [work("align", "a", ("x.v",), 1, 10), work("align", "a", ("y.v",), 3, 5),
             work("export", "a", ("x.v",), 2, 7), work("align", "b", ("z.v",), 1, 1),
             work("export", "a", ("y.v",), 1, 1)]
    out = events(batch)
    assert [e.asset_key for e in out] == [dg.AssetKey(["ondemand", "export"])] * 2 + [
        dg.AssetKey(["ondemand", "align"])] * 2
    tenant_a = next(e for e in out[2:] if e.metadata["tenant"].value == "a")
    meta = {k: v.value for k, v in tenant_a.metadata.items()}
    assert meta["series"] == ["x.v", "y.v"] and meta["requests"] == 2 and meta["rows"] == 15
    assert meta["window_start"] == T0.timestamp() and meta["window_end"] == (T0 + timedelta(hours=3)).timestamp()


class BrokenInstance:
    def report_runless_asset_event(self, event: object) -> None:
        raise RuntimeError("storage is down")


def test_full_queue_drops_and_failing_storage_are_counted() -> None:
    metrics = Metrics()
    recorder = LineageRecorder(BrokenInstance(), metrics, flush_seconds=3600, maxsize=2)  # type: ignore[arg-type]
    for _ in range(3):
        recorder.record(work("export", "a", ("x.v",), 1, 1))  # never raises, never blocks
    assert metrics.lineage_dropped._value.get() == 1
    recorder.flush()
    assert metrics.lineage_failures._value.get() == 2 and metrics.lineage_events._value.get() == 0


def test_writer_flushes_on_its_timer_and_at_stop() -> None:
    with dg.instance_for_test() as instance:
        metrics = Metrics()
        recorder = LineageRecorder(instance, metrics, flush_seconds=0.05, maxsize=100)
        recorder.start()
        recorder.record(work("align", "a", ("x.v",), 1, 3))
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while metrics.lineage_events._value.get() < 1 and datetime.now(UTC) < deadline:
            time.sleep(0.01)
        recorder.record(work("export", "a", ("x.v",), 1, 3))
        recorder.stop()
        assert metrics.lineage_events._value.get() == 2
        assert instance.fetch_materializations(dg.AssetKey(["ondemand", "export"]), limit=5).records
