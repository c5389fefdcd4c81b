"""A run-failure sensor: every failed run is logged with its job, partition and failing steps."""

from __future__ import annotations

import dagster as dg


def build_run_failure_sensor(name: str = "report_run_failures") -> dg.SensorDefinition:
    @dg.run_failure_sensor(name=name, default_status=dg.DefaultSensorStatus.RUNNING,
                           description="Logs each failed run with its partition and failing steps.")
    def _report(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        steps = [e.step_key for e in context.get_step_failure_events() if e.step_key]
        context.log.error(
            f"run {run.run_id} of job {run.job_name} failed"
            f" (partition {run.tags.get('dagster/partition', '-')}; steps {', '.join(steps) or '-'})"
        )

    return _report
