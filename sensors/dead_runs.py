"""A sensor the daemon ticks: runs left unfinished by a process that is gone are marked failed."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from resources.runs import fail_dead_runs


def build_dead_runs_sensor(name: str = "fail_dead_runs", interval_seconds: int = 30) -> dg.SensorDefinition:
    @dg.sensor(name=name, minimum_interval_seconds=interval_seconds, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Marks failed the in-process runs (`datahub materialize`) whose process was killed, so "
                           "they never hold a slot of the run queue.")
    def _dead_runs(context: dg.SensorEvaluationContext) -> Iterator[dg.SkipReason]:
        failed = fail_dead_runs(context.instance)
        yield dg.SkipReason(f"marked failed: {', '.join(failed)}" if failed else "no dead run")

    return _dead_runs
