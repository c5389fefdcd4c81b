"""Materialize a selection of assets for some daily partitions, in process, against the instance."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dagster as dg


def materialize_partitions(
    selection: str,
    partition_keys: Sequence[str],
    *,
    defs: dg.Definitions | None = None,
    instance: dg.DagsterInstance | None = None,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """One run per partition (in order, so carry-in sees the day before); returns the failed keys."""
    if defs is None:
        from datahub_assets.definitions import defs as load_defs

        defs = load_defs()
    job = defs.resolve_implicit_global_asset_job_def()
    keys = dg.AssetSelection.from_string(selection).resolve(defs.resolve_asset_graph())
    owned = instance is None
    instance = instance or dg.DagsterInstance.get()
    failed = []
    try:
        for key in partition_keys:
            result = job.execute_in_process(
                instance=instance, partition_key=key, asset_selection=sorted(keys), raise_on_error=False
            )
            echo(f"{key}: {'ok' if result.success else 'FAILED'} (run {result.run_id})")
            if not result.success:
                failed.append(key)
    finally:
        if owned:
            instance.dispose()
    return failed
