"""Materialize a selection of assets for some daily partitions, in process, against the instance."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg

from resources.runs import owner_tags

# In-process runs log to the console at WARNING: each partition is reported in one line instead.
QUIET: dict[str, object] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class PartitionRun:
    key: str
    run_id: str
    success: bool
    seconds: float
    steps: int
    failures: tuple[str, ...] = ()  # "<step>: <first line of its error>"

    def line(self) -> str:
        head = f"{self.key}  {'ok' if self.success else 'FAILED'}  {self.steps} steps  {self.seconds:.1f} s  " \
               f"run {self.run_id}"
        return head + "".join(f"\n  {f}" for f in self.failures)


def resolve_selection(defs: dg.Definitions, selection: str) -> list[dg.AssetKey]:
    with warnings.catch_warnings():  # a beta parameter Dagster's own selection parser passes
        warnings.simplefilter("ignore", dg.BetaWarning)
        return sorted(dg.AssetSelection.from_string(selection).resolve(defs.resolve_asset_graph()))


def materialize_partitions(
    selection: str,
    partition_keys: Sequence[str],
    *,
    defs: dg.Definitions | None = None,
    instance: dg.DagsterInstance | None = None,
    echo: Callable[[str], None] = print,
    on_run: Callable[[PartitionRun], None] | None = None,
) -> list[str]:
    """One run per partition, in the given order; `echo` gets one line per partition (`on_run` the
    record). Returns the failed keys."""
    if defs is None:
        from datahub_assets.definitions import defs as load_defs

        defs = load_defs()
    job = defs.resolve_implicit_global_asset_job_def()
    keys = resolve_selection(defs, selection)
    owned = instance is None
    instance = instance or dg.DagsterInstance.get()
    failed = []
    try:
        for key in partition_keys:
            began = time.monotonic()
            result = job.execute_in_process(
                instance=instance, partition_key=key, asset_selection=keys, raise_on_error=False, run_config=QUIET,
                tags=owner_tags(),
            )
            run = PartitionRun(key, result.run_id, result.success, time.monotonic() - began,
                               len({e.step_key for e in result.all_events if e.is_step_start}),
                               tuple(_failures(result)))
            echo(run.line())
            if on_run:
                on_run(run)
            if not result.success:
                failed.append(key)
    finally:
        if owned:
            instance.dispose()
    return failed


def _failures(result: dg.ExecuteInProcessResult) -> list[str]:
    out = []
    for event in result.all_events:
        if event.is_step_failure and event.step_key:
            error = event.step_failure_data.error
            message = (error.message if error else "failed").strip().splitlines()
            out.append(f"{event.step_key}: {message[0] if message else 'failed'}")
    return out
