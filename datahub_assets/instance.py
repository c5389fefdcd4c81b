"""The Dagster instance: created and migrated once, in one process, before any server starts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def prepare_home(home: Path | None = None) -> Path:
    """Set DAGSTER_HOME (default `.datahub/dagster_home`), put the shipped dagster.yaml there if it has
    none (the PostgreSQL one when DAGSTER_PG_HOST is set), and create or migrate the instance storage."""
    home = (home or Path(os.environ.get("DAGSTER_HOME") or ".datahub/dagster_home")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    target = home / "dagster.yaml"
    if not target.exists():
        template = "dagster.postgres.yaml" if os.environ.get("DAGSTER_PG_HOST") else "dagster.yaml"
        shutil.copyfile(DEPLOY / template, target)
    with dg.DagsterInstance.get() as instance:
        instance.upgrade()
    return home
