"""Alerts: failed runs and failed checks are posted to the webhook as JSON (asset, partition, run id, a link into
the UI), retried, never naming the URL; tested against a real local HTTP server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import dagster as dg
import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from resources.alerts import AlertError, Webhook, from_settings
from sensors.check_failures import build_check_failure_sensor
from sensors.run_failures import build_run_failure_sensor

TOKEN = "s3cr3t-t0ken"
UI = "http://ui.example:3000"


@pytest.fixture
def hook_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture(autouse=True)
def ui(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAHUB_DAGSTER_UI_URL", UI)


def webhook(server: HTTPServer) -> Webhook:
    return Webhook(SecretStr(server.url_for(f"/hook?token={TOKEN}")), sleep=lambda _: None)


def received(server: HTTPServer) -> list[dict[str, object]]:
    return [json.loads(request.data) for request, _ in server.log if request.method == "POST"]


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01"))
def broken() -> None:
    raise RuntimeError("source down")


@dg.asset(check_specs=[dg.AssetCheckSpec("in_range", asset="gauge"), dg.AssetCheckSpec("fresh", asset="gauge")])
def gauge() -> dg.MaterializeResult:
    return dg.MaterializeResult(check_results=[
        dg.AssetCheckResult(check_name="in_range", passed=False, metadata={"out_of_range": 3, "where": "| ts |"}),
        dg.AssetCheckResult(check_name="fresh", passed=True)])


def test_failed_run_is_posted_with_partition_steps_and_link(hook_server: HTTPServer) -> None:
    hook_server.expect_request("/hook", method="POST").respond_with_data("ok")
    sensor = build_run_failure_sensor(webhook=lambda: webhook(hook_server))
    with dg.instance_for_test() as instance:
        result = dg.Definitions(assets=[broken]).resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, partition_key="2024-01-02", raise_on_error=False)
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=failure).for_run_failure()
        sensor(context)
    [alert] = received(hook_server)
    assert alert["kind"] == "run_failure" and alert["run_id"] == result.run_id
    assert (alert["partition"], alert["steps"], alert["assets"]) == ("2024-01-02", ["broken"], ["broken"])
    assert alert["link"] == f"{UI}/runs/{result.run_id}"
    assert alert["job"] == "__ASSET_JOB" and alert["error"]


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
    assert isinstance(result, dg.SensorResult)
    return result


def test_failed_checks_in_runs_and_without_a_run_are_posted_once(hook_server: HTTPServer) -> None:
    hook_server.expect_request("/hook", method="POST").respond_with_data("ok")
    sensor = build_check_failure_sensor(webhook=lambda: webhook(hook_server))
    with dg.instance_for_test() as instance:
        dg.materialize([gauge], instance=instance)  # before the first tick: not replayed
        start = tick(sensor, instance, None)
        assert start.cursor is not None and received(hook_server) == []
        run = dg.materialize([gauge], instance=instance)
        instance.report_runless_asset_event(dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(["raw", "plant", "t"]), check_name="fresh", passed=False,
            severity=dg.AssetCheckSeverity.WARN, partition="2024-01-03", description="Newest reading is old."))
        first = tick(sensor, instance, start.cursor)
        again = tick(sensor, instance, first.cursor)
    in_run, runless = received(hook_server)
    assert (in_run["kind"], in_run["asset"], in_run["check"], in_run["run_id"]) == (
        "check_failure", "gauge", "in_range", run.run_id)
    assert in_run["metadata"] == {"out_of_range": 3, "where": "| ts |"}
    assert in_run["link"] == f"{UI}/runs/{run.run_id}"
    assert (runless["asset"], runless["partition"], runless["run_id"], runless["severity"]) == (
        "raw/plant/t", "2024-01-03", None, "WARN")
    assert runless["link"] == f"{UI}/assets/raw/plant/t?view=checks"
    assert again.cursor == first.cursor and len(received(hook_server)) == 2  # nothing new: nothing posted


def test_retried_through_503s_and_a_retry_after(hook_server: HTTPServer) -> None:
    answers = iter([Response("busy", 503), Response("slow down", 429, headers={"Retry-After": "1"}),
                    Response("ok", 200)])
    waits: list[float] = []

    def answer(request: Request) -> Response:
        return next(answers)

    hook_server.expect_request("/hook", method="POST").respond_with_handler(answer)
    hook = Webhook(SecretStr(hook_server.url_for(f"/hook?token={TOKEN}")), sleep=waits.append)
    hook.post({"kind": "test"})
    assert len(received(hook_server)) == 3
    assert waits[1] == 1.0  # the Retry-After of the 429


def test_a_webhook_that_stays_down_keeps_the_alerts_and_never_shows_the_url(
        hook_server: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    status = [502]
    hook_server.expect_request("/hook", method="POST").respond_with_handler(lambda _: Response("x", status[0]))
    sensor = build_check_failure_sensor(webhook=lambda: webhook(hook_server))
    with dg.instance_for_test() as instance:
        start = tick(sensor, instance, None)
        dg.materialize([gauge], instance=instance)
        with caplog.at_level(logging.DEBUG):
            failed = tick(sensor, instance, start.cursor)
        status[0] = 200
        delivered = tick(sensor, instance, failed.cursor)
    assert int(delivered.cursor or 0) > int(failed.cursor or 0)  # the alert the webhook refused waited
    assert [a["check"] for a in received(hook_server)] == ["in_range"] * 6  # 5 attempts failed, then delivered
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")  # not the test server's
    shown = ours + str(failed.skip_reason) + str(sensor.description)
    assert "502" in shown and TOKEN not in shown and "/hook" not in shown
    with pytest.raises(AlertError) as info:
        Webhook(SecretStr(f"http://127.0.0.1:9/hook?token={TOKEN}"), attempts=2, sleep=lambda _: None).post({})
    assert TOKEN not in str(info.value) and "127.0.0.1" not in str(info.value)


def test_no_webhook_set_posts_nothing(monkeypatch: pytest.MonkeyPatch, hook_server: HTTPServer) -> None:
    monkeypatch.delenv("DATAHUB_ALERT_WEBHOOK_URL", raising=False)
    assert from_settings() is None
    sensor = build_check_failure_sensor()
    with dg.instance_for_test() as instance:
        start = tick(sensor, instance, None)
        dg.materialize([gauge], instance=instance)
        assert tick(sensor, instance, start.cursor).skip_reason == dg.SkipReason("no alert webhook set")
    monkeypatch.setenv("DATAHUB_ALERT_WEBHOOK_URL", hook_server.url_for(f"/hook?token={TOKEN}"))
    hook = from_settings()
    assert hook is not None and TOKEN not in repr(vars(hook))


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01"),
          check_specs=[dg.AssetCheckSpec("in_range", asset="daily_gauge")])
def daily_gauge() -> dg.MaterializeResult:
    return dg.MaterializeResult(check_results=[dg.AssetCheckResult(check_name="in_range", passed=False)])


def test_a_failed_check_of_a_partitioned_run_names_its_partition(hook_server: HTTPServer) -> None:
    hook_server.expect_request("/hook", method="POST").respond_with_data("ok")
    sensor = build_check_failure_sensor(webhook=lambda: webhook(hook_server))
    with dg.instance_for_test() as instance:
        start = tick(sensor, instance, None)
        dg.materialize([daily_gauge], instance=instance, partition_key="2024-01-05")
        tick(sensor, instance, start.cursor)
    [alert] = received(hook_server)
    assert (alert["asset"], alert["partition"]) == ("daily_gauge", "2024-01-05")
