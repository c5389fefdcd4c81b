"""The Dagster instance: created and migrated once, in one process, before any server starts.

A marker file in DAGSTER_HOME records what the storage was last migrated for (the Dagster version, the
instance config and, for PostgreSQL, which database): later starts find it and skip the migration.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import dagster as dg

from resources.runs import fail_dead_runs

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
MARKER = ".datahub-instance"
_PG_KEYS = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB")


class InstanceError(RuntimeError):
    pass


def prepare_home(home: Path | None = None) -> Path:
    """Set DAGSTER_HOME (default `.datahub/dagster_home`), put the shipped dagster.yaml there if it has
    none (the PostgreSQL one when DAGSTER_PG_HOST is set), and create or migrate the storage unless the
    marker says it is current. Several processes calling this at once migrate it once (a file lock)."""
    home = (home or Path(os.environ.get("DAGSTER_HOME") or ".datahub/dagster_home")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    target = home / "dagster.yaml"
    with open(home / f"{MARKER}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            template = "dagster.postgres.yaml" if os.environ.get("DAGSTER_PG_HOST") else "dagster.yaml"
            shutil.copyfile(DEPLOY / template, target)
        marker = home / MARKER
        want = stamp(target)
        if not marker.exists() or marker.read_text() != want:
            migrate()
            marker.write_text(want)
    with dg.DagsterInstance.get() as instance:
        fail_dead_runs(instance)  # runs a killed `datahub materialize` left STARTED would hold the queue
    return home


def stamp(config: Path) -> str:
    """What the storage was migrated for: the Dagster version, the instance config, the PostgreSQL database."""
    return json.dumps({
        "dagster": dg.__version__,
        "config": hashlib.sha256(config.read_bytes()).hexdigest(),
        "postgres": [os.environ.get(k, "") for k in _PG_KEYS],
    }, sort_keys=True)


def migrate() -> None:
    """Create or upgrade the storage; Dagster's progress lines are kept back unless the migration fails."""
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), dg.DagsterInstance.get() as instance:
            instance.upgrade()
    except Exception as exc:
        raise InstanceError(f"the Dagster instance could not be migrated: {exc}\n{out.getvalue()}") from exc
