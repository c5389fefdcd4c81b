"""The PostgreSQL instance end to end: `datahub up` (webserver and daemon) on a fresh database ticks a
schedule and sensors, the scheduled run materializes and checks, and all of it reads back from PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from datahub_assets.instance import prepare_home
from tests.datahub_assets.test_instance import pg_database  # noqa: F401 (a fixture)

DATAHUB = str(Path(sys.executable).parent / "datahub")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.integration
@pytest.mark.slow
def test_datahub_up_on_postgres_ticks_schedules_and_sensors(tmp_path: Path, pg_database: str,  # noqa: F811
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    today = datetime.now(UTC).date()
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent(f"""\
        partitions: {{start: "{today - timedelta(days=2)}"}}
        sources:
          live: {{kind: demo, seed: 5, cadence: 1m}}
        series:
          - {{entity: "urn:live:1", attribute: out, source: live, cadence: 1m, checks: {{min: 0}}}}
        """))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAHUB_", "DAGSTER_", "S3_"))}
    env |= {"DATAHUB_CATALOG": str(tmp_path / "catalog.yaml"), "DATAHUB_LAKE": str(tmp_path / "lake"),
            "DAGSTER_HOME": str(tmp_path / "home"), "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": "5432",
            "DAGSTER_PG_USER": "postgres", "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": pg_database}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    prepare_home(tmp_path / "home")  # the instance on the fresh database, created once before the servers
    ui, api = free_port(), free_port()
    proc = subprocess.Popen([DATAHUB, "up", "--port", str(ui), "--api-port", str(api)], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    key = dg.AssetKey(["raw", "live", "urn_live_1_out"])
    try:
        deadline = time.monotonic() + 240
        with dg.DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            while time.monotonic() < deadline:
                assert proc.poll() is None, "datahub up stopped"
                done = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS],
                                                       tags={"dagster/schedule_name": "refresh_live"}))
                if done:
                    break
                time.sleep(2)
            assert done, "no scheduled run succeeded"
            ticks = {state.instigator_name: instance.get_ticks(state.instigator_origin_id, state.selector_id)
                     for state in instance.all_instigator_state()}
            assert ticks.get("refresh_live"), "the schedule ticked"
            assert ticks.get("fail_dead_runs") or ticks.get("follow_inputs"), "a sensor ticked"
            assert today.isoformat() in instance.get_materialized_partitions(key)
            check = dg.AssetCheckKey(key, "values_in_range")
            record = instance.event_log_storage.get_latest_asset_check_execution_by_key([check])[check]
            assert record.status.value == "SUCCEEDED"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
