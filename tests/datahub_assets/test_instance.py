"""The instance: created and migrated once from the shipped dagster.yaml (SQLite, or PostgreSQL by settings)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from datahub_assets.instance import MARKER, prepare_home

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def test_sqlite_home_with_pools_of_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "first"))
    home = prepare_home(tmp_path / "home")
    assert (home / "dagster.yaml").is_file()
    with dg.DagsterInstance.get() as instance:
        assert instance.is_persistent
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert config.pool_config.pool_granularity is not None
        assert config.pool_config.pool_granularity.value == "run"
        assert config.run_queue_config is not None and config.run_queue_config.max_concurrent_runs == 4
    # A second start keeps the home as it is.
    (home / "dagster.yaml").write_text((home / "dagster.yaml").read_text() + "\n# edited\n")
    prepare_home(home)
    assert (home / "dagster.yaml").read_text().endswith("# edited\n")


def test_storage_is_migrated_once_then_again_only_for_a_new_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrades: list[str] = []
    real = dg.DagsterInstance.upgrade

    def counting(self: dg.DagsterInstance, print_fn: object = None) -> None:
        upgrades.append("upgrade")
        real(self)

    monkeypatch.setattr(dg.DagsterInstance, "upgrade", counting)
    home = tmp_path / "home"
    for _ in range(3):
        prepare_home(home)
    assert upgrades == ["upgrade"]
    marker = home / MARKER
    assert json.loads(marker.read_text())["dagster"] == dg.__version__
    marker.write_text(marker.read_text().replace(dg.__version__, "1.0.0"))  # as an older release left it
    prepare_home(home)
    assert upgrades == ["upgrade", "upgrade"]
    with dg.DagsterInstance.get() as instance:
        assert instance.get_runs_count() == 0


@pytest.fixture
def pg_database() -> Iterator[str]:
    name = f"datahub_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(dbname="postgres", **PG)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.integration
def test_postgres_storage_by_settings(tmp_path: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"HOST": "127.0.0.1", "PORT": "5432", "USER": "postgres", "PASSWORD": "",
                       "DB": pg_database}.items():
        monkeypatch.setenv(f"DAGSTER_PG_{key}", value)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    prepare_home(tmp_path / "home")

    @dg.asset
    def probe() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"rows": 3})

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert dg.materialize([probe], instance=instance).success
    with psycopg2.connect(dbname=pg_database, **PG) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM event_logs WHERE asset_key LIKE %s", ('%probe%',))
        row = cur.fetchone()
        assert row is not None and row[0] >= 1
