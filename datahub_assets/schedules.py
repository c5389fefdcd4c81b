"""Schedules: each source's cadence refreshes today's partition; a daily run closes yesterday."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from datahub_assets.factories import REFRESH_TAG

CLOSE_DAY_CRON = "15 0 * * *"


def cadence_cron(cadence: timedelta) -> str:
    """The cron that runs at least as often as `cadence` (cron's finest step is one minute)."""
    minutes = int(cadence.total_seconds() // 60)
    if minutes < 1:
        return "* * * * *"
    if minutes < 60:
        step = max(d for d in range(1, minutes + 1) if 60 % d == 0)
        return "* * * * *" if step == 1 else f"*/{step} * * * *"
    hours = minutes // 60
    if hours < 24:
        step = max(d for d in range(1, hours + 1) if 24 % d == 0)
        return "0 * * * *" if step == 1 else f"0 */{step} * * *"
    return "0 0 * * *"


def _partition_key(at: datetime) -> str:
    return at.astimezone(UTC).date().isoformat()


def build_refresh_schedule(
    source: str, job: dg.JobDefinition | dg.UnresolvedAssetJobDefinition, cadence: timedelta,
    last_day: date | None = None, *, running: bool = True,
) -> dg.ScheduleDefinition:
    """Refresh today's (open) partition of one source's series, and what stands on them."""

    @dg.schedule(
        name=f"refresh_{source}",
        cron_schedule=cadence_cron(cadence),
        job=job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED,
        description=f"Refreshes today's partition of source {source!r} every {cadence}.",
    )
    def _refresh(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest | dg.SkipReason]:
        at = context.scheduled_execution_time or datetime.now(UTC)
        if last_day is not None and at.astimezone(UTC).date() > last_day:
            yield dg.SkipReason(f"the catalog's partitions end on {last_day.isoformat()}")
            return
        # Incremental: each raw series asks its source only from its last stored reading (minus an overlap).
        yield dg.RunRequest(run_key=f"{source}:{at.isoformat()}", partition_key=_partition_key(at),
                            tags={REFRESH_TAG: "incremental"})

    return _refresh


def build_close_day_schedule(
    job: dg.JobDefinition | dg.UnresolvedAssetJobDefinition, last_day: date | None = None
) -> dg.ScheduleDefinition:
    """Shortly after midnight UTC, materialize yesterday's now closed partition of everything."""

    @dg.schedule(name="close_day", cron_schedule=CLOSE_DAY_CRON, job=job, execution_timezone="UTC",
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description="Materializes yesterday's closed partition of every asset.")
    def _close(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest | dg.SkipReason]:
        at = context.scheduled_execution_time or datetime.now(UTC)
        yesterday = at.astimezone(UTC).date() - timedelta(days=1)
        if last_day is not None and yesterday > last_day:
            yield dg.SkipReason(f"the catalog's partitions end on {last_day.isoformat()}")
            return
        key = yesterday.isoformat()
        yield dg.RunRequest(run_key=f"close:{key}", partition_key=key)

    return _close
