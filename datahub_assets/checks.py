"""Asset checks of raw series, from the catalog's `checks` (DESIGN section 4): one table of check kinds, each
holding its spec and its evaluation.

They are evaluated on the rows as delivered (before cleaning), inside the materialization and on the API's
read-through, so duplicates and backwards time are seen before "last wins" resolves them. Freshness is also
evaluated without a run, by a sensor (`freshness_probe`). Each result names where its problems are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import polars as pl

from datahub_assets.engine.anomaly import MEDIAN, SCORE, anomalies
from datahub_assets.engine.quality import FROM, SECONDS, backwards_steps, duplicate_stamps, gap_spans, out_of_range
from datahub_assets.engine.schema import TS, VALUE
from datahub_assets.fetch import FetchedDay, max_gap, newest_reading, readings_before
from datahub_assets.metadata import markdown_table
from datahub_assets.partitions import day_window
from resources.catalog import Catalog, SeriesConfig
from resources.keys import raw_path
from resources.lake import ParquetLake

DUPLICATES = "no_duplicate_timestamps"
MONOTONIC = "monotonic_time"
RANGE = "values_in_range"
GAPS = "no_gaps_over_cadence"
FRESHNESS = "fresh"
ANOMALIES = "no_anomalies"

SHOWN = 20  # places listed in a result's metadata (the counts are always whole)
WARN, ERROR = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR


@dataclass(frozen=True)
class Evidence:
    """What the checks of one day look at: the fetch, and the stored readings before the day."""

    fetched: FetchedDay
    before: pl.DataFrame

    @property
    def window(self) -> tuple[datetime, datetime]:
        return day_window(self.fetched.day)

    @property
    def closed(self) -> bool:
        return not self.fetched.open

    @property
    def delivered(self) -> pl.LazyFrame:
        return self.fetched.delivered.lazy()


@dataclass(frozen=True)
class Verdict:
    passed: bool
    metadata: dict[str, Any]
    description: str | None = None


@dataclass(frozen=True)
class CheckKind:
    name: str
    applies: Callable[[SeriesConfig], bool]
    describe: Callable[[SeriesConfig], str]
    evaluate: Callable[[SeriesConfig, Evidence], Verdict]
    severity: dg.AssetCheckSeverity = WARN
    blocking: bool = False  # blocks grids downstream: bad rows would spread into aligned outputs


def _places(frame: pl.DataFrame, count: int, what: str) -> dict[str, Any]:
    """The count, and the first SHOWN places as a table a person can act on."""
    shown = frame.head(SHOWN)
    note = f"\n\n(first {SHOWN} of {count})" if count > SHOWN else ""
    meta: dict[str, Any] = {what: count}
    if count:
        meta["where"] = dg.MetadataValue.md(markdown_table(shown) + note)
    return meta


# The counts come from the fetch (engine.quality); the places are looked up only where a count is not 0.

def _duplicates(series: SeriesConfig, e: Evidence) -> Verdict:
    extra = int(e.fetched.counts["duplicates"])
    found = duplicate_stamps(e.delivered).collect() if extra else pl.DataFrame()
    meta = _places(found, extra, "duplicates")
    meta["stamps_repeated"] = found.height
    return Verdict(extra == 0, meta, "Resolved: the last delivered reading wins.")


def _backwards(series: SeriesConfig, e: Evidence) -> Verdict:
    steps = int(e.fetched.counts["backwards"])
    found = backwards_steps(e.delivered).collect() if steps else pl.DataFrame()
    return Verdict(steps == 0, _places(found, steps, "backwards_steps"), "Readings are stored in time order.")


def _range(series: SeriesConfig, e: Evidence) -> Verdict:
    outside = int(e.fetched.counts["out_of_range"])
    meta: dict[str, Any] = {"out_of_range": outside}
    if outside:
        found = out_of_range(e.delivered, minimum=series.checks.min, maximum=series.checks.max).collect()
        meta = _places(found, outside, "out_of_range")
        meta["lowest"], meta["highest"] = float(found[VALUE].min()), float(found[VALUE].max())  # type: ignore[arg-type]
    return Verdict(outside == 0, meta)


def _gaps(series: SeriesConfig, e: Evidence) -> Verdict:
    gaps = int(e.fetched.counts["gaps"])
    meta: dict[str, Any] = {"gaps": gaps, "missing_seconds": 0.0}
    if gaps:
        start, end = e.window
        found = gap_spans(e.delivered, start=start, end=end, max_gap=max_gap(series), closed=e.closed).collect()
        meta = _places(found.sort(SECONDS, descending=True).head(SHOWN).sort(FROM), gaps, "gaps")
        meta["missing_seconds"] = float(found[SECONDS].sum())
    meta.update({"largest_gap_seconds": float(e.fetched.counts["largest_gap"] or 0.0), "partial": not e.closed})
    return Verdict(gaps == 0, meta)


def freshness_verdict(limit: timedelta, last: datetime | None, now: datetime) -> Verdict:
    """Fresh when the newest reading is at most `limit` old (by the clock `now`)."""
    age = None if last is None else (now - last).total_seconds()
    meta: dict[str, Any] = {"age_seconds": age if age is not None else -1.0, "limit_seconds": limit.total_seconds()}
    if last is not None:
        meta["last_reading"] = dg.MetadataValue.timestamp(last)
    passed = age is not None and age <= limit.total_seconds()
    return Verdict(passed, meta, None if passed else "No reading that recent" if last is None
                   else f"Newest reading is {_span(age or 0.0)} old (limit {_span(limit.total_seconds())}).")


CLOSED = Verdict(True, {"partition": "closed"}, "A closed day is not expected to be fresh.")


def _fresh(series: SeriesConfig, e: Evidence) -> Verdict:
    assert series.checks.freshness is not None
    if e.closed:
        return CLOSED
    return freshness_verdict(series.checks.freshness, e.fetched.counts["last_ts"], e.fetched.now)


def _anomalies(series: SeriesConfig, e: Evidence) -> Verdict:
    rule = series.checks.anomaly
    assert rule is not None
    start, end = e.window
    readings = pl.concat([e.before, e.fetched.frame]).lazy()
    found = anomalies(readings, window=rule.window, threshold=rule.threshold, start=start, end=end,
                      min_points=rule.min_points).collect()
    shown = found.sort(SCORE, descending=True).head(SHOWN).sort(TS).with_columns(
        pl.col(MEDIAN).round(6), pl.col(SCORE).round(2))
    meta = _places(shown, found.height, "anomalies")
    meta["readings_scored"] = e.fetched.frame.height
    return Verdict(found.height == 0, meta, None if found.is_empty() else
                   f"{found.height} reading(s) beyond {rule.threshold} robust deviations of the rolling median.")


def _span(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def _has_range(s: SeriesConfig) -> bool:
    return s.checks.min is not None or s.checks.max is not None


KINDS: tuple[CheckKind, ...] = (
    CheckKind(DUPLICATES, lambda s: True, lambda s: "No timestamp is delivered twice.", _duplicates),
    CheckKind(MONOTONIC, lambda s: True, lambda s: "Timestamps never go backwards.", _backwards),
    CheckKind(RANGE, _has_range,
              lambda s: f"Values within [{s.checks.min}, {s.checks.max}]; blocks grids downstream.",
              _range, severity=ERROR, blocking=True),
    CheckKind(GAPS, lambda s: max_gap(s) is not None, lambda s: f"No gap over {max_gap(s)}.", _gaps),
    CheckKind(FRESHNESS, lambda s: s.checks.freshness is not None,
              lambda s: f"Newest reading at most {s.checks.freshness} old (also checked by a sensor).", _fresh),
    CheckKind(ANOMALIES, lambda s: s.checks.anomaly is not None,
              lambda s: (f"No reading beyond {s.checks.anomaly.threshold} x 1.4826 MAD from the rolling median of"
                         f" the {s.checks.anomaly.window} before it.") if s.checks.anomaly else "", _anomalies),
)


def kinds_of(series: SeriesConfig) -> list[CheckKind]:
    return [kind for kind in KINDS if kind.applies(series)]


def history_span(series: SeriesConfig) -> timedelta:
    """How much stored history before a day its checks read (the anomaly check's first windows)."""
    return series.checks.anomaly.window if series.checks.anomaly else timedelta(0)


def gather(lake: ParquetLake, catalog: Catalog, series: SeriesConfig, fetched: FetchedDay) -> Evidence:
    """The evidence of a fetched day: the fetch, and the stored history its checks need."""
    span = history_span(series)
    before = readings_before(lake, catalog, series, fetched.day, span) if span else fetched.frame.clear()
    return Evidence(fetched, before)


def check_specs(asset_key: dg.AssetKey, series: SeriesConfig) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(k.name, asset=asset_key, description=k.describe(series), blocking=k.blocking)
            for k in kinds_of(series)]


def check_results(series: SeriesConfig, evidence: Evidence) -> list[dg.AssetCheckResult]:
    results = []
    for kind in kinds_of(series):
        verdict = kind.evaluate(series, evidence)
        results.append(dg.AssetCheckResult(check_name=kind.name, passed=verdict.passed, severity=kind.severity,
                                           metadata=verdict.metadata, description=verdict.description))
    return results


def passes_blocking(series: SeriesConfig, fetched: FetchedDay) -> bool:
    """Whether a fetched day passes the checks that block it from flowing downstream (the value range)."""
    return not _has_range(series) or fetched.counts["out_of_range"] == 0


def runless_events(key: dg.AssetKey, series: SeriesConfig, evidence: Evidence, metadata: dict[str, Any]
                   ) -> list[dg.AssetMaterialization | dg.AssetCheckEvaluation]:
    """A day stored outside a run (the API's read-through), as the raw asset would have recorded it: its
    materialization and the evaluations of its checks."""
    partition = evidence.fetched.day.isoformat()
    events: list[dg.AssetMaterialization | dg.AssetCheckEvaluation] = [
        dg.AssetMaterialization(asset_key=key, partition=partition, metadata=metadata)]
    for result in check_results(series, evidence):
        events.append(dg.AssetCheckEvaluation(
            asset_key=key, check_name=result.check_name or "", passed=result.passed,
            metadata=result.metadata, severity=result.severity, partition=partition,
            description=result.description))
    return events


Probe = Callable[[ParquetLake, datetime], dg.AssetCheckEvaluation]


def freshness_probe(catalog: Catalog, series: SeriesConfig) -> Probe:
    """The freshness check evaluated without a run (by the sensor): from the newest stored reading up to the
    clock's day, recorded on today's partition (or on none past the catalog's last day)."""
    limit = series.checks.freshness
    assert limit is not None
    key = dg.AssetKey(list(raw_path(series)))

    def probe(lake: ParquetLake, now: datetime) -> dg.AssetCheckEvaluation:
        today = now.astimezone(UTC).date()
        ended = catalog.partitions.end is not None and today > catalog.partitions.end
        verdict = CLOSED if ended else freshness_verdict(limit, newest_reading(lake, catalog, series, today, limit),
                                                         now)
        return dg.AssetCheckEvaluation(
            asset_key=key, check_name=FRESHNESS, passed=verdict.passed, severity=WARN,
            metadata={**verdict.metadata, "evaluated_by": "sensor"}, description=verdict.description,
            partition=None if ended else today.isoformat())

    return probe
