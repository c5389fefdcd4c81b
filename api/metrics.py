"""Prometheus metrics of one app: HTTP requests and latencies, rows served, lake reads and read-through
fetches, source errors and lineage recording."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.rows_served = Counter("datahub_rows_served", "Grid rows answered", ["endpoint"], registry=r)
        self.cells_served = Counter("datahub_cells_served", "Grid cells answered (rows x series)", registry=r)
        self.read_through = Counter(
            "datahub_read_through_fetches", "Days fetched from a source because the lake lacked them", ["source"],
            registry=r)
        self.lake_hits = Counter(
            "datahub_lake_partition_hits", "Daily partitions served from the lake (read-through not needed)",
            ["source"], registry=r)
        self.source_errors = Counter("datahub_source_errors", "Failed source reads", ["source"], registry=r)
        self.exports = Counter("datahub_exports", "Exports produced", ["format"], registry=r)
        self.lineage_events = Counter("datahub_lineage_events", "Materialization events recorded", registry=r)
        self.lineage_failures = Counter("datahub_lineage_failures", "Events that could not be recorded", registry=r)
        self.lineage_dropped = Counter("datahub_lineage_dropped", "Records dropped: queue full", registry=r)
