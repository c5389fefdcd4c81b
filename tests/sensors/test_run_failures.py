from __future__ import annotations

import dagster as dg
import pytest

from sensors.run_failures import build_run_failure_sensor


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01"))
def broken() -> None:
    raise RuntimeError("source down")


def test_failed_run_is_reported_with_partition_and_step(capfd: pytest.CaptureFixture[str]) -> None:
    sensor = build_run_failure_sensor()
    defs = dg.Definitions(assets=[broken], sensors=[sensor])
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, partition_key="2024-01-02", raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=failure,
        ).for_run_failure()
        capfd.readouterr()
        sensor(context)
    logged = capfd.readouterr().err
    assert f"run {result.run_id} of job __ASSET_JOB failed (partition 2024-01-02; steps broken)" in logged
