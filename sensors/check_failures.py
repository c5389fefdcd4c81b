"""A sensor the daemon ticks: each failed asset check evaluation (in a run, or recorded without one, as the
API's read-through and the freshness sensor do) is posted to the alert webhook (`resources.alerts`).

Evaluations are read from the event log's cross-run index (one query per tick, on SQLite and PostgreSQL
alike); the cursor is the id of the last one handled. The first tick starts at the log's current end: a new
deployment does not replay old failures. The cursor moves only past alerts delivered, so while the webhook is
down nothing is lost: the next tick posts from where delivery stopped.
"""

from collections.abc import Callable, Mapping
from typing import Any

import dagster as dg

from resources.alerts import AlertError, Webhook, from_settings, ui_link

BATCH = 100  # evaluations read per tick
TEXT_CHARS = 2000  # of a metadata text (e.g. a table of where the problems are)
PARTITION_TAG = "dagster/partition"


def build_check_failure_sensor(name: str = "report_check_failures", interval_seconds: int = 30,
                               webhook: Callable[[], Webhook | None] = from_settings) -> dg.SensorDefinition:
    @dg.sensor(name=name, minimum_interval_seconds=interval_seconds, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Posts each failed asset check to the alert webhook when one is set.")
    def _report(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        storage = context.instance.event_log_storage
        if context.cursor is None:
            start = storage.get_maximum_record_id() or 0
            return dg.SensorResult(cursor=str(start), skip_reason="starting at the end of the event log")
        hook = webhook()
        if hook is None:
            return dg.SensorResult(skip_reason="no alert webhook set")
        cursor, posted = int(context.cursor), 0
        entries = storage.get_logs_for_all_runs_by_log_id(
            after_cursor=cursor, dagster_event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=BATCH)
        for storage_id, entry in entries.items():
            evaluation = entry.dagster_event.event_specific_data if entry.dagster_event else None
            if isinstance(evaluation, dg.AssetCheckEvaluation) and not evaluation.passed:
                run = context.instance.get_run_by_id(entry.run_id) if entry.run_id else None
                partition = evaluation.partition or (run.tags.get(PARTITION_TAG) if run else None)
                try:
                    hook.post(check_alert(evaluation, entry.run_id or None, partition))
                except AlertError as exc:
                    context.log.error(f"{exc}; {posted} posted this tick, the rest waits for the next")
                    return dg.SensorResult(cursor=str(cursor), skip_reason=str(exc))
                posted += 1
            cursor = storage_id
        return dg.SensorResult(cursor=str(cursor), skip_reason=f"{posted} failed check(s) posted")

    return _report


def check_alert(evaluation: dg.AssetCheckEvaluation, run_id: str | None, partition: str | None) -> dict[str, Any]:
    key = evaluation.asset_key
    return {
        "kind": "check_failure", "asset": key.to_user_string(), "check": evaluation.check_name,
        "partition": partition, "severity": evaluation.severity.value, "run_id": run_id,
        "description": evaluation.description, "metadata": _plain(evaluation.metadata),
        "link": ui_link(f"/runs/{run_id}" if run_id else f"/assets/{'/'.join(key.path)}?view=checks"),
    }


def _plain(metadata: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, entry in metadata.items():
        value = getattr(entry, "value", entry)
        if isinstance(value, bool | int | float) or value is None:
            out[name] = value
        elif isinstance(value, str):
            out[name] = value[:TEXT_CHARS]
    return out
