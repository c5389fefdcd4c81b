"""Materialize a selection of assets for some daily partitions, in process, against the instance."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg

from resources.runs import owner_tags

ALL_ASSETS_JOB = "materialize_all"  # defined in definitions.py: every materializable asset

# Runs log nothing to the console: each partition is reported in one line, its failures below it (the full
# event log stays in the instance and the Dagster UI).
QUIET: dict[str, object] = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# Parallel runs start their step processes from a fork server that has imported the project once per worker,
# instead of a fresh interpreter per step (Dagster's `forkserver` start method with preloaded modules).
FORKED_STEPS: dict[str, object] = {**QUIET, "execution": {"config": {"multiprocess": {
    "start_method": {"forkserver": {"preload_modules": ["datahub_assets.definitions"]}}}}}}


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


def asset_job() -> dg.JobDefinition:
    """The definitions' asset job, built from the environment: what a parallel run's step processes load."""
    return _defs().resolve_job_def(ALL_ASSETS_JOB)


def materialize_partitions(
    selection: str,
    partition_keys: Sequence[str],
    *,
    defs: dg.Definitions | None = None,
    instance: dg.DagsterInstance | None = None,
    echo: Callable[[str], None] = print,
    on_run: Callable[[PartitionRun], None] | None = None,
    parallel: int = 1,
) -> list[str]:
    """One run per partition; `echo` gets one line per partition (`on_run` the record). Returns the failed
    keys. `parallel=1` runs them in this process, one after the other, in the given order; more runs that many
    at once, each with Dagster's multiprocess executor (steps in processes of their own, definitions
    loaded from the environment, a persistent instance needed)."""
    if parallel > 1:
        return _in_parallel(selection, partition_keys, parallel, instance, echo, on_run)
    defs = defs or _defs()
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
    return _failures_of(result.all_events)


def _failures_of(events: Sequence[dg.DagsterEvent]) -> list[str]:
    out = []
    for event in events:
        if event.is_step_failure and event.step_key:
            error = event.step_failure_data.error
            lines = (error.message if error else "failed").strip().splitlines()
            first = lines[0] if lines else "failed"
            head, sep, rest = first.partition(": ")
            out.append(f"{event.step_key}: {rest if sep and '.' in head and ' ' not in head else first}")
    return out


def _in_parallel(selection: str, partition_keys: Sequence[str], workers: int, instance: dg.DagsterInstance | None,
                 echo: Callable[[str], None], on_run: Callable[[PartitionRun], None] | None) -> list[str]:
    """Each partition's run in a worker process of its own (one Dagster instance per process, as Dagster
    expects); its steps in processes of their own (the multiprocess executor)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    del instance  # every worker opens the instance of DAGSTER_HOME itself
    keys = [k.to_user_string() for k in resolve_selection(_defs(), selection)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = list(pool.map(_run_one, [keys] * len(partition_keys), partition_keys))
    for run in runs:
        echo(run.line())
        if on_run:
            on_run(run)
    return [run.key for run in runs if not run.success]


def _run_one(keys: list[str], partition: str) -> PartitionRun:
    began = time.monotonic()
    selection = [dg.AssetKey.from_user_string(k) for k in keys]
    with dg.DagsterInstance.get() as instance, dg.execute_job(
            dg.reconstructable(asset_job), instance=instance, tags={**owner_tags(), "dagster/partition": partition},
            asset_selection=selection, run_config=FORKED_STEPS, raise_on_error=False) as result:
        events = result.all_events
        return PartitionRun(partition, result.run_id, result.success, time.monotonic() - began,
                            len({e.step_key for e in events if e.is_step_start}), tuple(_failures_of(events)))


def _defs() -> dg.Definitions:
    from datahub_assets.definitions import defs as load_defs

    return load_defs()
