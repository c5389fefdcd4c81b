"""Records what the API produced as runless materializations of the on-demand assets, off the request path:
a bounded queue drained by one background writer every `flush_seconds` (and once more at shutdown)."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from api.metrics import Metrics
from resources.keys import ONDEMAND_ALIGN, ONDEMAND_EXPORT

log = logging.getLogger("datahub.lineage")


Event = dg.AssetMaterialization | dg.AssetCheckEvaluation


@dataclass(frozen=True)
class Work:
    kind: str  # "align" or "export"
    tenant: str
    series: tuple[str, ...]
    start: datetime
    end: datetime
    rows: int
    detail: str = ""


class LineageRecorder:
    def __init__(self, instance: dg.DagsterInstance, metrics: Metrics, *, flush_seconds: float, maxsize: int) -> None:
        self.instance, self.metrics, self.flush_seconds = instance, metrics, flush_seconds
        self._queue: queue.Queue[Work | list[Event]] = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lineage-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def record(self, work: Work | list[Event]) -> None:
        """Never blocks or fails the caller: a full queue drops the record and counts it. Besides the API's
        own work, events to report as they are (a read-through write-back of a raw partition)."""
        try:
            self._queue.put_nowait(work)
        except queue.Full:
            self.metrics.lineage_dropped.inc()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()
        self.flush()

    def flush(self) -> None:
        batch: list[Work] = []
        given: list[Event] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Work):
                batch.append(item)
            else:
                given.extend(item)
        for event in [*given, *events(batch)]:
            try:
                self.instance.report_runless_asset_event(event)
                self.metrics.lineage_events.inc()
            except Exception:  # recording must never take the API down
                log.exception("could not record an on-demand materialization")
                self.metrics.lineage_failures.inc()


def events(batch: list[Work]) -> list[dg.AssetMaterialization]:
    """One event per export; aligns aggregated per tenant."""
    out = [_event(ONDEMAND_EXPORT, [w]) for w in batch if w.kind == "export"]
    aligns: dict[str, list[Work]] = {}
    for w in batch:
        if w.kind == "align":
            aligns.setdefault(w.tenant, []).append(w)
    out += [_event(ONDEMAND_ALIGN, group) for group in aligns.values()]
    return out


def _event(key: tuple[str, ...], group: list[Work]) -> dg.AssetMaterialization:
    series = sorted({s for w in group for s in w.series})
    metadata: dict[str, dg.RawMetadataValue] = {
        "series": dg.MetadataValue.json(series),
        "window_start": dg.MetadataValue.timestamp(min(w.start for w in group)),
        "window_end": dg.MetadataValue.timestamp(max(w.end for w in group)),
        "rows": sum(w.rows for w in group),
        "tenant": group[0].tenant,
        "requests": len(group),
    }
    if len(group) == 1 and group[0].detail:
        metadata["detail"] = group[0].detail
    return dg.AssetMaterialization(asset_key=list(key), metadata=metadata)
