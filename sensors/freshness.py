"""A sensor the daemon ticks: the freshness checks evaluated without a run, so a stalled source or schedule
turns them red. Each evaluation is recorded when its outcome changes, and again at least every `repeat`."""

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from resources.lake import ParquetLake

Probe = Callable[[ParquetLake, datetime], dg.AssetCheckEvaluation]  # (the lake, now) -> the check's evaluation


def build_freshness_sensor(probes: Mapping[str, Probe], *, interval_seconds: int, name: str = "check_freshness",
                           repeat: timedelta = timedelta(hours=1),
                           clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> dg.SensorDefinition:
    @dg.sensor(name=name, minimum_interval_seconds=interval_seconds, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Evaluates the freshness checks of raw series from the lake, without a run.")
    def _freshness(context: dg.SensorEvaluationContext, lake: ParquetLake) -> dg.SensorResult:  # resource "lake"
        now = clock()
        seen: dict[str, list[Any]] = json.loads(context.cursor) if context.cursor else {}
        events = []
        for series, probe in probes.items():
            evaluation = probe(lake, now)
            last = seen.get(series)
            if last is None or last[0] != evaluation.passed or now.timestamp() - last[1] >= repeat.total_seconds():
                events.append(evaluation)
                seen[series] = [evaluation.passed, now.timestamp()]
        stale = sorted(s for s, (passed, _) in seen.items() if not passed)
        context.log.info(f"{len(probes)} series checked; not fresh: {', '.join(stale) or 'none'}")
        return dg.SensorResult(asset_events=events, cursor=json.dumps(seen, sort_keys=True))

    return _freshness
