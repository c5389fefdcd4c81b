"""deploy/helm: values for the official Dagster chart (checked against a model of the chart's values) and the
API's Kubernetes manifests (checked as Kubernetes client models), both wired to the project as it really is."""

import re
from typing import Any

import dagster as dg
import kubernetes
import pydantic
import pytest
from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict

from datahub_assets.definitions import build_definitions
from datahub_assets.factories import source_pool
from resources.catalog import load_catalog
from resources.settings import DEMO_CATALOG, Settings
from tests.deploy.chart import DagsterValues, instance_config
from tests.deploy.conftest import DEPLOY, PROJECT_PREFIXES, ROOT, known_variables, load

VALUES_FILE = DEPLOY / "helm" / "values.yaml"
API_FILE = DEPLOY / "helm" / "api.yaml"


def values() -> DagsterValues:
    return DagsterValues.model_validate(load(VALUES_FILE))


def manifests() -> dict[str, dict[str, Any]]:
    import yaml

    return {doc["kind"]: doc for doc in yaml.safe_load_all(API_FILE.read_text())}


def install_command() -> list[str]:
    line = next(li for li in VALUES_FILE.read_text().splitlines() if "helm upgrade --install" in li)
    return line.lstrip("# ").split()


def test_the_values_fit_the_chart() -> None:
    parsed = values()
    assert parsed.runLauncher.type == "K8sRunLauncher"
    assert parsed.postgresql.enabled is False and parsed.generatePostgresqlPasswordSecret is False


@pytest.mark.parametrize(("change", "message"), [
    (lambda v: v["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"].update(maxConcurrentRuns=4),
     "maxConcurrentRuns is set under concurrency.runs and on the queued run coordinator"),
    (lambda v: v["concurrency"]["pools"].update(defaultlimit=1), "Extra inputs are not permitted"),
    (lambda v: v["runLauncher"].update(type="K8sLauncher"), "Input should be"),
    (lambda v: v["dagster-user-deployments"]["deployments"][0].pop("port"), "Field required"),
])
def test_the_model_refuses_values_the_chart_refuses_or_drops(change: Any, message: str) -> None:
    raw = load(VALUES_FILE)
    change(raw)
    with pytest.raises(pydantic.ValidationError, match=message):
        DagsterValues.model_validate(raw)


def test_the_chart_version_is_the_dagster_the_project_pins() -> None:
    command = install_command()
    assert command[command.index("--version") + 1] == dg.__version__
    assert command[command.index("--install") + 2] == "dagster/dagster"


def test_the_values_run_the_project_image_and_code_location() -> None:
    parsed = values()
    [deployment] = parsed.userDeployments.deployments
    assert parsed.dagsterWebserver.image == parsed.dagsterDaemon.image == deployment.image
    api = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert api["image"] == f"{deployment.image.repository}:{deployment.image.tag}"
    args = deployment.dagsterApiGrpcArgs or []
    shipped = load(ROOT / "workspace.yaml")["load_from"][0]["python_module"]
    assert args[args.index("--module-name") + 1] == shipped["module_name"]
    workdir = re.findall(r"^WORKDIR (\S+)", (DEPLOY / "Dockerfile").read_text(), flags=re.M)[-1]
    assert args[args.index("--working-directory") + 1] == workdir
    # The code server and every run pod it launches get the project's settings and the S3 credentials.
    assert deployment.includeConfigInLaunchedRuns is not None and deployment.includeConfigInLaunchedRuns.enabled
    launcher = parsed.runLauncher.config.k8sRunLauncher
    assert launcher is not None
    for refs in (deployment.envConfigMaps, launcher.envConfigMaps):
        assert [r.name for r in refs] == [manifests()["ConfigMap"]["metadata"]["name"]]
    api_env = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    secrets = [source["secretRef"]["name"] for source in api_env if "secretRef" in source]
    for refs in (deployment.envSecrets, launcher.envSecrets):
        assert [r.name for r in refs] == secrets


def test_one_pool_of_one_per_source_and_the_run_queue() -> None:
    parsed = values()
    coordinator = parsed.dagsterDaemon.runCoordinator
    assert coordinator.enabled and coordinator.type == "QueuedRunCoordinator"
    assert parsed.concurrency.enabled
    assert parsed.concurrency.pools.granularity == "run" and parsed.concurrency.pools.defaultLimit == 1
    # The pools are the project's: each raw asset is in its source's pool (and pools have no limit of their own).
    catalog = load_catalog(DEMO_CATALOG)
    graph = build_definitions(catalog, Settings()).resolve_asset_graph()
    sources = {s.id: s.source for s in catalog.series}
    raw = [key for key in graph.get_all_asset_keys() if key.path[0] == "raw"]
    assert raw
    for key in raw:
        series = next(s for s in catalog.series if key.path[-1] == s.slug)
        assert graph.get(key).pools == {source_pool(sources[series.id])}


@pytest.mark.integration
def test_the_instance_the_chart_renders_from_these_values_loads(instance_on: Any) -> None:
    """The chart's dagster.yaml for these values (storage, run queue, pools) is one Dagster accepts, against a
    fresh PostgreSQL database (its host, user and database swapped for the test's)."""
    parsed = values()
    config = instance_config(parsed)
    db = config["storage"]["postgres"]["postgres_db"]
    assert db["scheme"] == "postgresql+psycopg2" and db["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    db |= {"hostname": {"env": "DAGSTER_PG_HOST"}, "username": {"env": "DAGSTER_PG_USER"},
           "db_name": {"env": "DAGSTER_PG_DB"}, "port": {"env": "DAGSTER_PG_PORT"}}
    instance = instance_on(config)
    instance.upgrade()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    concurrency = instance.get_concurrency_config()
    assert concurrency.pool_config.default_pool_limit == 1
    assert concurrency.pool_config.pool_granularity is not None
    assert concurrency.pool_config.pool_granularity.value == "run"
    assert concurrency.run_queue_config is not None
    assert concurrency.run_queue_config.max_concurrent_runs == parsed.concurrency.runs.maxConcurrentRuns


def test_the_api_manifests_are_kubernetes_objects() -> None:
    """Each manifest builds its Kubernetes client model with no key left over (Dagster's own strict loader) and
    serializes back to the same document."""
    client = kubernetes.client.ApiClient()
    found = manifests()
    assert set(found) == {"ConfigMap", "Deployment", "Service"}
    for kind, manifest in found.items():
        model_class = getattr(kubernetes.client, f"V1{kind}")
        model = k8s_model_from_dict(model_class, k8s_snake_case_dict(model_class, manifest))
        assert client.sanitize_for_serialization(model) == manifest, kind


def test_the_api_deployment_is_wired_to_the_chart_and_the_project() -> None:
    found = manifests()
    deployment, service, settings = found["Deployment"], found["Service"], found["ConfigMap"]
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    [container] = pod["spec"]["containers"]
    assert container["command"][:2] == ["datahub", "serve"]
    port = int(container["command"][container["command"].index("--port") + 1])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports[service["spec"]["ports"][0]["targetPort"]] == port
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    # Every variable it sets is one the project reads.
    names = set(settings["data"]) | {e["name"] for e in container["env"]}
    assert {n for n in names if n.startswith(PROJECT_PREFIXES)} == names
    assert names - known_variables() == set()
    # The chart's instance: its config map and its PostgreSQL password Secret, as the values name them.
    command = install_command()
    release = command[command.index("--install") + 1]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounted = {m["mountPath"]: m for m in container["volumeMounts"]}
    instance = mounted["/opt/dagster/dagster_home/dagster.yaml"]
    assert volumes[instance["name"]]["configMap"]["name"] == f"{release}-instance"
    assert mounted["/opt/dagster/dagster_home"]["name"] in volumes
    [password] = [e for e in container["env"] if e["name"] == "DAGSTER_PG_PASSWORD"]
    assert password["valueFrom"]["secretKeyRef"] == {"name": values().global_.postgresqlSecretName,
                                                     "key": "postgresql-password"}
    assert settings["data"]["DAGSTER_GRAPHQL_URL"] == f"http://{release}-dagster-webserver/graphql"
