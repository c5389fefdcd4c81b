from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from datahub_assets.instance import prepare_home


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("DATAHUB_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    prepare_home(tmp_path / "home")
    return TestClient(create_app())


def test_health_checks_lake_and_instance(client: TestClient) -> None:
    with client:
        answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "lake": "ok", "instance": "ok"}


def test_health_reports_a_lake_it_cannot_use(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "lake").write_text("a file where the lake's folder should be")
    with client:
        answer = client.get("/health")
    assert answer.status_code == 503
    assert answer.json()["lake"] == "error: FileExistsError"


def test_health_reports_an_instance_it_cannot_read(client: TestClient, tmp_path: Path) -> None:
    with client:
        assert client.get("/health").status_code == 200
        dbs = list((tmp_path / "home").rglob("runs.db"))
        assert dbs, "the instance keeps its runs in SQLite"
        for db in dbs:
            db.unlink()
            db.mkdir()  # a folder where the run storage's database file was
        answer = client.get("/health")
    assert answer.status_code == 503
    assert answer.json()["instance"].startswith("error: ")
