"""A run-failure sensor: every failed run is logged with its job, partition and failing steps, and posted to the
alert webhook when one is set (`resources.alerts`)."""

from collections.abc import Callable

import dagster as dg

from resources.alerts import AlertError, Webhook, from_settings, ui_link

ERROR_CHARS = 500


def build_run_failure_sensor(name: str = "report_run_failures",
                             webhook: Callable[[], Webhook | None] = from_settings) -> dg.SensorDefinition:
    @dg.run_failure_sensor(name=name, default_status=dg.DefaultSensorStatus.RUNNING,
                           description="Logs each failed run with its partition and failing steps, and posts it to "
                                       "the alert webhook when one is set.")
    def _report(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        steps = [e.step_key for e in context.get_step_failure_events() if e.step_key]
        partition = run.tags.get("dagster/partition")
        context.log.error(
            f"run {run.run_id} of job {run.job_name} failed"
            f" (partition {partition or '-'}; steps {', '.join(steps) or '-'})"
        )
        hook = webhook()
        if hook is None:
            return
        alert = {
            "kind": "run_failure", "run_id": run.run_id, "job": run.job_name, "partition": partition,
            "assets": planned_assets(context.instance, run.run_id),
            "steps": steps, "error": (context.failure_event.message or "")[:ERROR_CHARS],
            "link": ui_link(f"/runs/{run.run_id}"),
        }
        try:
            hook.post(alert)
        except AlertError as exc:
            context.log.error(f"run {run.run_id}: {exc}")
            raise

    return _report


def planned_assets(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The assets the run was to materialize."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED).records
    return sorted({r.asset_key.to_user_string() for r in records if r.asset_key is not None})
