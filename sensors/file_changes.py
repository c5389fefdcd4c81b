"""A landing-zone sensor per `file` source: new or changed files launch runs for the days they hold."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg

from resources.sources.file import FileSource

MAX_DAYS_PER_TICK = 31


def build_file_changes_sensor(
    source: str,
    resource_key: str,
    target: dg.JobDefinition | dg.UnresolvedAssetJobDefinition,
    *,
    first_day: date,
    last_day: date | None = None,
    running: bool = True,
    max_days: int = MAX_DAYS_PER_TICK,
) -> dg.SensorDefinition:
    """The cursor holds each file's version; `run_key` = (file version, day), so a repeated tick launches
    nothing new. At most `max_days` (the newest) days per tick; older ones are left to a backfill."""

    @dg.sensor(
        name=f"{source}_files_changed",
        job=target,
        required_resource_keys={resource_key},
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
        description=f"Materializes the days held by new or changed files of source {source!r}.",
    )
    def _files_changed(context: dg.SensorEvaluationContext) -> Iterator[dg.RunRequest | dg.SkipReason]:
        files: FileSource = getattr(context.resources, resource_key)
        versions = files.fingerprints()
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        changed = sorted(p for p, v in versions.items() if seen.get(p) != v)
        if not changed:
            yield dg.SkipReason(f"no new or changed file in source {source!r}")
            return
        today = datetime.now(UTC).date()
        last = today if last_day is None else min(last_day, today)
        days = [d for d in files.days_of(changed) if first_day <= d <= last]
        if len(days) > max_days:
            context.log.info(f"{len(days) - max_days} older days of source {source!r} left to a backfill")
            days = days[-max_days:]
        version = hashlib.sha256(json.dumps({p: versions[p] for p in changed}).encode()).hexdigest()[:16]
        for day in days:
            yield dg.RunRequest(run_key=f"{source}:{version}:{day}", partition_key=day.isoformat())
        context.update_cursor(json.dumps(versions))

    return _files_changed
