from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from resources.catalog import load_catalog
from resources.registry import make_resources, source_key
from resources.settings import Settings
from resources.sources.file import FileSource


def test_resources_per_source_with_paths_relative_to_the_catalog(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text(
        "partitions: {start: '2020-01-01'}\nsources:\n  f: {kind: file, path: d.csv, timestamp_column: t}\n"
        "  g: {kind: demo}\n")
    resources = make_resources(load_catalog(tmp_path / "sub" / "c.yaml"), Settings(lake=str(tmp_path / "lake")))
    assert set(resources) == {"lake", "exports", source_key("f"), source_key("g")}
    source = resources[source_key("f")]
    assert isinstance(source, FileSource) and source.path == str((tmp_path / "sub" / "d.csv").resolve())


def test_secrets_become_env_vars_shown_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_SECRET_KEY", "very-secret")
    monkeypatch.setenv("S3_ACCESS_KEY", "key-id")
    lake = make_resources(load_catalog(_demo(tmp_path)), Settings(lake="s3://bucket/lake"))["lake"]
    assert lake.s3_secret_key == dg.EnvVar("S3_SECRET_KEY")
    assert "very-secret" not in repr(lake)
    with dg.build_resources({"lake": lake}) as built:
        assert built.lake.s3_secret_key == "very-secret"


def test_an_s3_file_source_shows_no_secret_in_its_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_SECRET_KEY", "very-secret")
    monkeypatch.setenv("S3_ACCESS_KEY", "key-id")
    path = tmp_path / "c.yaml"
    path.write_text("partitions: {start: '2020-01-01'}\nsources:\n"
                    "  f: {kind: file, path: 's3://bucket/data/*.csv', timestamp_column: t}\n")
    settings = Settings(lake=str(tmp_path / "lake"), s3_endpoint="http://127.0.0.1:9", s3_access_key="key-id",
                        s3_secret_key="very-secret")
    source = make_resources(load_catalog(path), settings)[source_key("f")]
    assert isinstance(source, FileSource)
    assert source.s3_secret_key == dg.EnvVar("S3_SECRET_KEY") and source.s3_access_key == dg.EnvVar("S3_ACCESS_KEY")
    shown = repr(source) + source.model_dump_json()
    assert "very-secret" not in shown and "key-id" not in shown
    with dg.build_resources({"f": source}) as built:
        assert built.f.storage_options["aws_secret_access_key"] == "very-secret"


def _demo(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text("partitions: {start: '2020-01-01'}\nsources:\n  g: {kind: demo}\n")
    return path
