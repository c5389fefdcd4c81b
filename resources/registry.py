"""`make_resources`: the one place that turns the catalog and the environment into resources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from resources.catalog import Catalog, EnvRef, SourceEntry
from resources.export_store import ExportStore
from resources.lake import ParquetLake
from resources.settings import Settings
from resources.sources.base import Source
from resources.sources.kinds import kind_class

LAKE = "lake"
EXPORTS = "exports"


def source_key(name: str) -> str:
    """The resource key of a catalog source."""
    return f"source_{name}"


def make_lake(settings: Settings) -> ParquetLake:
    return ParquetLake(
        root=settings.lake,
        s3_endpoint=settings.s3_endpoint,
        s3_access_key=_env("S3_ACCESS_KEY", settings.s3_access_key),
        s3_secret_key=_env("S3_SECRET_KEY", settings.s3_secret_key),
        s3_region=settings.s3_region,
    )


def make_source(name: str, entry: SourceEntry, base_dir: Path, settings: Settings) -> Source:
    """The resource of one catalog source, built by its kind's class; `${VAR}` values become `dg.EnvVar`s
    (shown by name in the UI)."""
    values = {key: _value(value) for key, value in entry.values().items()}
    return kind_class(entry.kind).from_entry(name, values, base_dir=base_dir, settings=settings)


def make_export_store(settings: Settings) -> ExportStore:
    return ExportStore(
        bucket=settings.s3_bucket,
        endpoint=settings.s3_endpoint,
        external_url=settings.s3_external_url,
        access_key=_env("S3_ACCESS_KEY", settings.s3_access_key),
        secret_key=_env("S3_SECRET_KEY", settings.s3_secret_key),
        region=settings.s3_region,
        local_dir=str(settings.exports_dir),
        expires_in=settings.export_url_expiry_seconds,
        link_secret=_env("DATAHUB_LINK_SECRET", settings.link_secret),
    )


def make_resources(catalog: Catalog, settings: Settings | None = None) -> dict[str, Any]:
    """Lake, export store and one resource per catalog source, keyed by `source_key(name)`."""
    settings = settings or Settings()
    resources: dict[str, Any] = {LAKE: make_lake(settings), EXPORTS: make_export_store(settings)}
    for name, config in catalog.sources.items():
        resources[source_key(name)] = make_source(name, config, catalog.base_dir, settings)
    return resources


def _value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(v) for v in value]
    return dg.EnvVar(value.name) if isinstance(value, EnvRef) else value


def _env(name: str, value: str | None) -> Any:
    """A secret from the environment as `dg.EnvVar` (its name shows in the UI, never its value)."""
    return dg.EnvVar(name) if value else None
