"""deploy/docker-compose.yaml: valid by the Compose Specification, and wired to the project as it really is."""

import json
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.deploy.conftest import DEPLOY, PROJECT_PREFIXES, ROOT, known_variables, load

COMPOSE = DEPLOY / "docker-compose.yaml"


def compose() -> dict[str, Any]:
    return load(COMPOSE)


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def compose_spec() -> dict[str, Any]:
    """The Compose Specification's JSON schema, as vendored by check-jsonschema (from SchemaStore)."""
    schema = json.loads((files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text())
    assert schema["title"] == "Compose Specification"
    return schema


def validation_errors(document: Any) -> list[str]:
    schema = compose_spec()
    validator = jsonschema.validators.validator_for(schema)
    checker = validator(schema, format_checker=validator.FORMAT_CHECKER)
    return [f"{e.json_path}: {e.message}" for e in checker.iter_errors(document)]


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path (relative to deploy/) of the service's bind mounts."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            out[target] = source
    return out


def test_the_file_follows_the_compose_specification() -> None:
    assert validation_errors(compose()) == []


def test_the_schema_check_refuses_what_compose_refuses() -> None:
    broken = compose()
    broken["services"]["api"]["depends_on"]["webserver"]["condition"] = "service_up"
    broken["services"]["webserver"]["healthcheck"]["intervall"] = "10s"
    broken["services"]["daemon"]["ports"] = [{"published": "3000", "target": "three thousand"}]
    assert len(validation_errors(broken)) >= 3


def test_the_services_and_the_order_they_start_in() -> None:
    found = services()
    assert set(found) == {"postgres", "minio", "minio-bucket", "dagster-init", "user-code", "webserver", "daemon",
                          "api"}
    for name, service in found.items():
        for needed, how in service.get("depends_on", {}).items():
            assert needed in found, f"{name} depends on an unknown service {needed}"
            if how["condition"] == "service_healthy":
                assert "healthcheck" in found[needed], f"{name} waits for {needed} to be healthy: it has no check"
            if how["condition"] == "service_completed_successfully":
                assert found[needed].get("restart") == "no", f"{needed} is waited for to finish: a one-shot"
    # Every long-running service says when it is healthy; the instance is migrated before any Dagster process.
    for name in ("postgres", "minio", "user-code", "webserver", "daemon", "api"):
        assert "healthcheck" in found[name], name
    assert found["dagster-init"]["command"] == ["dagster", "instance", "migrate"]
    for name in ("user-code", "api"):
        assert found[name]["depends_on"]["dagster-init"]["condition"] == "service_completed_successfully"
    assert "mc mb --ignore-existing local/datahub" in found["minio-bucket"]["command"][0]


def test_the_project_image_runs_the_project_commands() -> None:
    found = services()
    image = found["api"]["image"]
    for name in ("dagster-init", "user-code", "webserver", "daemon", "api"):
        assert found[name]["image"] == image
        build = found[name]["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    # The API as the project serves it (`datahub serve` execs uvicorn --factory api.app:create_app), several workers.
    api = found["api"]["command"]
    assert api[:2] == ["datahub", "serve"] and int(option(api, "--workers")) > 1
    assert option(api, "--port") == found["api"]["ports"][0].split(":")[1]
    assert found["daemon"]["command"][:2] == ["dagster-daemon", "run"]


def test_every_variable_set_is_a_setting_and_the_instance_gets_what_it_reads() -> None:
    known = known_variables()
    instance_file = DEPLOY / "compose" / "dagster.yaml"
    wanted = {value["env"] for value in load(instance_file)["storage"]["postgres"]["postgres_db"].values()
              if isinstance(value, dict)}
    assert wanted == {"DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"}
    for name, service in services().items():
        env = service.get("environment", {})
        ours = {key for key in env if key.startswith(PROJECT_PREFIXES)}
        assert ours - known == set(), f"{name} sets variables nothing reads"
        if "/opt/dagster/dagster_home/dagster.yaml" in mounts(service):
            assert wanted <= set(env), f"{name} mounts the instance config without its settings"
    user_code = services()["user-code"]["environment"]
    assert user_code["DATAHUB_LAKE"] == "s3://datahub/lake" and user_code["S3_BUCKET"] == "datahub"
    assert user_code["S3_ENDPOINT"].startswith("http://minio:")
    # The API gets both shared blocks (YAML merge keys): the instance settings and the data ones.
    assert {"DAGSTER_PG_HOST", "DATAHUB_LAKE", "S3_SECRET_KEY"} <= set(services()["api"]["environment"])


def test_the_mounted_files_exist_and_the_workspace_points_at_the_code_server() -> None:
    found = services()
    for service in found.values():
        for source in mounts(service).values():
            assert (COMPOSE.parent / source).is_file(), source
    workspace = load(DEPLOY / "compose" / "workspace.yaml")["load_from"]
    assert len(workspace) == 1
    target = workspace[0]["grpc_server"]
    server = found[target["host"]]
    command = server["command"]
    assert command[:3] == ["dagster", "api", "grpc"]
    assert int(option(command, "--port")) == target["port"]
    assert option(server["healthcheck"]["test"], "--port") == str(target["port"])
    assert option(command, "--location-name") == target["location_name"]
    shipped = load(ROOT / "workspace.yaml")["load_from"][0]["python_module"]
    assert option(command, "--module-name") == shipped["module_name"]
    for name in ("webserver", "daemon"):
        path = option(found[name]["command"], "--workspace")
        assert mounts(found[name])[path] == "./compose/workspace.yaml"


@pytest.mark.integration
def test_the_compose_instance_loads_on_a_fresh_postgres_database(instance_on: Any) -> None:
    instance = instance_on(DEPLOY / "compose" / "dagster.yaml")
    instance.upgrade()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
    config = instance.get_concurrency_config()
    assert config.pool_config.default_pool_limit == 1
    assert config.pool_config.pool_granularity is not None and config.pool_config.pool_granularity.value == "run"
    assert config.run_queue_config is not None and config.run_queue_config.max_concurrent_runs == 8


def docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not docker_compose_available(), reason="`docker compose` is not installed here (the schema "
                                                           "test above checks the file without it)")
def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    result = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "-q"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr

