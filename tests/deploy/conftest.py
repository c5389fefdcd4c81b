"""Shared by the deployment tests: the files under deploy/, the settings they may set, an instance from a yaml."""

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from resources.settings import variable_names
from tests.datahub_assets.test_instance import PG, pg_database  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROJECT_PREFIXES = ("DATAHUB_", "DAGSTER_", "S3_")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def known_variables() -> set[str]:
    """What the project reads: its settings, and the PostgreSQL instance settings of the shipped dagster.yaml."""
    instance = (DEPLOY / "dagster.postgres.yaml").read_text()
    return variable_names() | set(re.findall(r"\{env: (DAGSTER_PG_[A-Z]+)\}", instance))


@pytest.fixture
def instance_on(tmp_path: Path, pg_database: str,  # noqa: F811
                monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Opens an instance from a dagster.yaml (a file or a dict) in a fresh DAGSTER_HOME, with the DAGSTER_PG_*
    settings pointing at a fresh database."""
    for key, value in {"HOST": str(PG["host"]), "PORT": str(PG["port"]), "USER": str(PG["user"]), "PASSWORD": "",
                       "DB": pg_database}.items():
        monkeypatch.setenv(f"DAGSTER_PG_{key}", value)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    opened: list[dg.DagsterInstance] = []

    def open_instance(config: Path | dict[str, Any]) -> dg.DagsterInstance:
        if isinstance(config, Path):
            shutil.copyfile(config, home / "dagster.yaml")
        else:
            (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        instance = dg.DagsterInstance.get()
        opened.append(instance)
        return instance

    yield open_instance
    for instance in opened:
        instance.dispose()
