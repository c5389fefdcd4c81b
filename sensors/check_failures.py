"""A sensor the daemon ticks: each failed asset check evaluation (in a run, or recorded without one, as the
API's read-through and the freshness sensor do) is posted to the alert webhook (`resources.alerts`).

The cursor is the id of the last check execution handled (ids grow across all checks). The first tick starts
at the current end: a new deployment does not replay old failures. The cursor moves only past alerts
delivered and never past an execution still running (younger than `PLANNED_HOURS`), so while the webhook is
down nothing is lost: the next tick posts from where delivery stopped.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

from resources.alerts import AlertError, Webhook, from_settings, ui_link

BATCH = 100  # executions read per check and tick
TEXT_CHARS = 2000  # of a metadata text (e.g. a table of where the problems are)
PLANNED_HOURS = 6  # an execution planned longer ago than this belongs to a run that died: passed over
FAILED, PLANNED = AssetCheckExecutionRecordStatus.FAILED, AssetCheckExecutionRecordStatus.PLANNED


def build_check_failure_sensor(checks: Sequence[dg.AssetCheckKey], name: str = "report_check_failures",
                               interval_seconds: int = 30,
                               webhook: Callable[[], Webhook | None] = from_settings) -> dg.SensorDefinition:
    @dg.sensor(name=name, minimum_interval_seconds=interval_seconds, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Posts each failed asset check to the alert webhook when one is set.")
    def _report(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        storage = context.instance.event_log_storage
        if context.cursor is None:
            latest = storage.get_latest_asset_check_execution_by_key(list(checks)).values()
            start = max((r.id for r in latest if r is not None), default=0)
            return dg.SensorResult(cursor=str(start), skip_reason="starting after the latest check execution")
        hook = webhook()
        if hook is None:
            return dg.SensorResult(skip_reason="no alert webhook set")
        cursor, posted = int(context.cursor), 0
        for record in _after(storage, checks, cursor):
            if record.status == PLANNED:
                if time.time() - record.create_timestamp < PLANNED_HOURS * 3600:
                    break  # still running: wait for its outcome
            elif record.status == FAILED and record.event and record.event.dagster_event:
                evaluation = record.event.dagster_event.event_specific_data
                assert isinstance(evaluation, dg.AssetCheckEvaluation)
                try:
                    hook.post(check_alert(evaluation, record.run_id or None))
                except AlertError as exc:
                    context.log.error(f"{exc}; {posted} posted this tick, the rest waits for the next")
                    return dg.SensorResult(cursor=str(cursor), skip_reason=str(exc))
                posted += 1
            cursor = record.id
        return dg.SensorResult(cursor=str(cursor), skip_reason=f"{posted} failed check(s) posted")

    return _report


def _after(storage: Any, checks: Sequence[dg.AssetCheckKey], cursor: int) -> list[AssetCheckExecutionRecord]:
    """The executions of every check with an id above the cursor, oldest first."""
    found = []
    for key in checks:
        found += [r for r in storage.get_asset_check_execution_history(key, limit=BATCH) if r.id > cursor]
    return sorted(found, key=lambda r: r.id)


def check_alert(evaluation: dg.AssetCheckEvaluation, run_id: str | None) -> dict[str, Any]:
    key = evaluation.asset_key
    return {
        "kind": "check_failure", "asset": key.to_user_string(), "check": evaluation.check_name,
        "partition": evaluation.partition, "severity": evaluation.severity.value, "run_id": run_id,
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
