"""Asset checks of raw series, from the catalog's `checks` (DESIGN section 4).

They are evaluated on the rows as fetched (before cleaning), inside the materialization, so duplicates and
backwards time are seen before "last wins" resolves them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import dagster as dg

from datahub_assets.fetch import max_gap
from resources.catalog import SeriesConfig

DUPLICATES = "no_duplicate_timestamps"
MONOTONIC = "monotonic_time"
RANGE = "values_in_range"
GAPS = "no_gaps_over_cadence"
FRESHNESS = "fresh"


def check_specs(asset_key: dg.AssetKey, series: SeriesConfig) -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(DUPLICATES, asset=asset_key, description="No timestamp is delivered twice."),
        dg.AssetCheckSpec(MONOTONIC, asset=asset_key, description="Timestamps never go backwards."),
    ]
    if series.checks.min is not None or series.checks.max is not None:
        specs.append(dg.AssetCheckSpec(
            RANGE, asset=asset_key, blocking=True,
            description=f"Values within [{series.checks.min}, {series.checks.max}]; blocks grids downstream.",
        ))
    if max_gap(series) is not None:
        specs.append(dg.AssetCheckSpec(GAPS, asset=asset_key, description=f"No gap over {max_gap(series)}."))
    if series.checks.freshness is not None:
        specs.append(dg.AssetCheckSpec(
            FRESHNESS, asset=asset_key,
            description=f"Newest reading of the open partition at most {series.checks.freshness} old.",
        ))
    return specs


def check_results(
    series: SeriesConfig, counts: dict[str, Any], *, open_partition: bool, now: datetime
) -> list[dg.AssetCheckResult]:
    warn = dg.AssetCheckSeverity.WARN
    results = [
        dg.AssetCheckResult(
            check_name=DUPLICATES, passed=counts["duplicates"] == 0, severity=warn,
            metadata={"duplicates": counts["duplicates"]},
            description="Resolved: the last delivered reading wins.",
        ),
        dg.AssetCheckResult(
            check_name=MONOTONIC, passed=counts["backwards"] == 0, severity=warn,
            metadata={"backwards_steps": counts["backwards"]},
        ),
    ]
    if series.checks.min is not None or series.checks.max is not None:
        results.append(dg.AssetCheckResult(
            check_name=RANGE, passed=counts["out_of_range"] == 0, severity=dg.AssetCheckSeverity.ERROR,
            metadata={"out_of_range": counts["out_of_range"]},
        ))
    if max_gap(series) is not None:
        results.append(dg.AssetCheckResult(
            check_name=GAPS, passed=counts["gaps"] == 0, severity=warn,
            metadata={"gaps": counts["gaps"], "largest_gap_seconds": float(counts["largest_gap"] or 0.0),
                      "partial": open_partition},
        ))
    if series.checks.freshness is not None:
        results.append(_freshness(series.checks.freshness, counts["last_ts"], open_partition, now))
    return results


def _freshness(limit: timedelta, last: datetime | None, open_partition: bool, now: datetime) -> dg.AssetCheckResult:
    if not open_partition:
        return dg.AssetCheckResult(check_name=FRESHNESS, passed=True, metadata={"partition": "closed"})
    age = None if last is None else (now - last).total_seconds()
    return dg.AssetCheckResult(
        check_name=FRESHNESS,
        passed=age is not None and age <= limit.total_seconds(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"age_seconds": age if age is not None else -1.0, "limit_seconds": limit.total_seconds()},
    )


def passes_blocking(series: SeriesConfig, fetched: Any) -> bool:
    """Whether a fetched day passes the checks that block it from flowing downstream (the value range)."""
    has_range = series.checks.min is not None or series.checks.max is not None
    return not has_range or fetched.counts["out_of_range"] == 0


def runless_events(key: dg.AssetKey, series: SeriesConfig, fetched: Any, metadata: dict[str, Any]
                   ) -> list[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    """A day stored outside a run (the API's read-through), as the raw asset would have recorded it: its
    materialization and the evaluations of its checks."""
    partition = fetched.day.isoformat()
    events: list[dg.AssetMaterialization | dg.AssetCheckEvaluation] = [
        dg.AssetMaterialization(asset_key=key, partition=partition, metadata=metadata)]
    for result in check_results(series, fetched.counts, open_partition=fetched.open, now=fetched.now):
        events.append(dg.AssetCheckEvaluation(
            asset_key=key, check_name=result.check_name or "", passed=result.passed,
            metadata=result.metadata, severity=result.severity, partition=partition))
    return events
