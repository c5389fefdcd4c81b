"""The part of the official Dagster Helm chart's values that deploy/helm/values.yaml uses, as pydantic models.

Transcribed by hand from the chart's own schema source (dagster-io/dagster, helm/dagster/schema/schema/charts/:
dagster/values.py, dagster/subschema/{daemon,concurrency,postgresql,run_launcher,global_,webserver}.py and
dagster_user_deployments/subschema/user_deployments.py) and the conflict checks of its instance templates
(helpers/instance/_concurrency.tpl), as of the 1.13 chart. Stricter than the chart: a key these models do not
know is an error here (a misspelled key would otherwise be dropped silently by Helm), while values the file
leaves out fall back to the chart's defaults, as they do in Helm.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Image(Strict):  # kubernetes.Image
    repository: str
    tag: str | int | None = None
    pullPolicy: Literal["Always", "IfNotPresent", "Never"] | None = None


class EnvSource(Strict):  # io.k8s.api.core.v1.ConfigMapEnvSource / SecretEnvSource
    name: str
    optional: bool | None = None


class IncludeConfigInLaunchedRuns(Strict):
    enabled: bool


class UserDeployment(Strict):
    name: str
    image: Image
    dagsterApiGrpcArgs: list[str] | None = None
    codeServerArgs: list[str] | None = None
    port: int
    envConfigMaps: list[EnvSource] = []
    envSecrets: list[EnvSource] = []
    includeConfigInLaunchedRuns: IncludeConfigInLaunchedRuns | None = None


class UserDeployments(Strict):
    enabled: bool = True
    enableSubchart: bool = True
    deployments: list[UserDeployment]


class K8sRunLauncherConfig(Strict):
    envConfigMaps: list[EnvSource] = []
    envSecrets: list[EnvSource] = []


class RunLauncherConfig(Strict):
    k8sRunLauncher: K8sRunLauncherConfig | None = None


class RunLauncher(Strict):
    type: Literal["CeleryK8sRunLauncher", "K8sRunLauncher", "CustomRunLauncher"]
    config: RunLauncherConfig


class PostgresService(Strict):
    port: int


class PostgreSQL(Strict):
    enabled: bool
    postgresqlHost: str
    postgresqlUsername: str
    postgresqlPassword: str | None = None
    postgresqlDatabase: str
    postgresqlParams: dict[str, Any] = {}
    postgresqlScheme: str | None = None
    service: PostgresService


class Global(Strict):
    postgresqlSecretName: str


class TagConcurrencyLimit(Strict):
    key: str
    value: str | dict[str, Any] | None = None
    limit: int


class QueuedRunCoordinatorConfig(Strict):
    maxConcurrentRuns: int | None = None
    tagConcurrencyLimits: list[TagConcurrencyLimit] | None = None
    dequeueIntervalSeconds: int | None = None
    dequeueNumWorkers: int | None = None
    dequeueUseThreads: bool | None = None


class RunCoordinatorConfig(Strict):
    queuedRunCoordinator: QueuedRunCoordinatorConfig | None = None


class RunCoordinator(Strict):
    enabled: bool
    type: Literal["QueuedRunCoordinator", "CustomRunCoordinator"]
    config: RunCoordinatorConfig


class Webserver(Strict):
    image: Image


class Daemon(Strict):
    image: Image
    runCoordinator: RunCoordinator


class ConcurrencyPools(Strict):
    defaultLimit: int | None = None
    granularity: Literal["run", "op"] | None = None
    opGranularityRunBuffer: int | None = None


class ConcurrencyRuns(Strict):
    maxConcurrentRuns: int | None = None
    tagConcurrencyLimits: list[TagConcurrencyLimit] = []


class Concurrency(Strict):
    enabled: bool = False
    pools: ConcurrencyPools = ConcurrencyPools()
    runs: ConcurrencyRuns = ConcurrencyRuns()


class Telemetry(Strict):
    enabled: bool


class DagsterValues(Strict):
    dagsterWebserver: Webserver
    userDeployments: UserDeployments = Field(alias="dagster-user-deployments")
    runLauncher: RunLauncher
    postgresql: PostgreSQL
    generatePostgresqlPasswordSecret: bool = True
    global_: Global = Field(alias="global")
    dagsterDaemon: Daemon
    concurrency: Concurrency = Concurrency()
    telemetry: Telemetry | None = None

    @model_validator(mode="after")
    def no_limit_twice(self) -> "DagsterValues":
        """The chart fails to render when a run limit is set both under `concurrency` and on the queue."""
        queue = self.dagsterDaemon.runCoordinator.config.queuedRunCoordinator
        runs = self.concurrency.runs
        if self.concurrency.enabled and queue is not None:
            twice = [key for key, both in (
                ("maxConcurrentRuns", runs.maxConcurrentRuns is not None and queue.maxConcurrentRuns is not None),
                ("tagConcurrencyLimits", bool(runs.tagConcurrencyLimits and queue.tagConcurrencyLimits))) if both]
            if twice:
                raise ValueError(f"{twice[0]} is set under concurrency.runs and on the queued run coordinator")
        return self


def instance_config(values: DagsterValues) -> dict[str, Any]:
    """The storage, run queue and concurrency parts of the dagster.yaml the chart renders from these values
    (its _storage, _run-coordinator and _concurrency templates); the password is read from DAGSTER_PG_PASSWORD."""
    pg = values.postgresql
    db: dict[str, Any] = {"username": pg.postgresqlUsername, "password": {"env": "DAGSTER_PG_PASSWORD"},
                          "hostname": pg.postgresqlHost, "db_name": pg.postgresqlDatabase, "port": pg.service.port,
                          "params": pg.postgresqlParams}
    if pg.postgresqlScheme:
        db["scheme"] = pg.postgresqlScheme
    config: dict[str, Any] = {"storage": {"postgres": {"postgres_db": db}}}
    coordinator = values.dagsterDaemon.runCoordinator
    queue = coordinator.config.queuedRunCoordinator
    if coordinator.enabled and coordinator.type == "QueuedRunCoordinator":
        queued: dict[str, Any] = {}
        if queue is not None:
            if queue.maxConcurrentRuns is not None or not values.concurrency.enabled:
                queued["max_concurrent_runs"] = -1 if queue.maxConcurrentRuns is None else queue.maxConcurrentRuns
            for key, name in (("dequeueIntervalSeconds", "dequeue_interval_seconds"),
                              ("dequeueUseThreads", "dequeue_use_threads"),
                              ("dequeueNumWorkers", "dequeue_num_workers")):
                if getattr(queue, key):
                    queued[name] = getattr(queue, key)
        config["run_coordinator"] = {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator",
                                     **({"config": queued} if queued else {})}
    if values.concurrency.enabled:
        pools, runs = values.concurrency.pools, values.concurrency.runs
        pool_config = {"default_limit": pools.defaultLimit, "granularity": pools.granularity,
                       "op_granularity_run_buffer": pools.opGranularityRunBuffer}
        run_config: dict[str, Any] = {
            "max_concurrent_runs": runs.maxConcurrentRuns,
            "tag_concurrency_limits": [limit.model_dump(exclude_none=True) for limit in runs.tagConcurrencyLimits],
        }
        parts = {"pools": set_only(pool_config), "runs": set_only(run_config)}
        config["concurrency"] = {name: part for name, part in parts.items() if part}
    if values.telemetry is not None:
        config["telemetry"] = {"enabled": values.telemetry.enabled}
    return config


def set_only(part: dict[str, Any]) -> dict[str, Any]:
    """The keys a template renders: those with a value (not null, not an empty list)."""
    return {key: value for key, value in part.items() if value is not None and value != []}
