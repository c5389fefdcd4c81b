"""`make_resources`: the one place that turns the catalog and the environment into resources."""

from __future__ import annotations

import importlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from resources.catalog import (
    Catalog,
    CustomSourceConfig,
    DemoSourceConfig,
    EnvRef,
    FileSourceConfig,
    HttpSourceConfig,
    SourceConfig,
)
from resources.export_store import ExportStore
from resources.lake import ParquetLake, s3_storage_options
from resources.settings import Settings
from resources.sources.base import SourceError
from resources.sources.demo import DemoSource
from resources.sources.file import FileSource
from resources.sources.http import HttpSource

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


def make_source(name: str, config: SourceConfig, base_dir: Path, settings: Settings) -> Any:
    """The resource of one catalog source; `${VAR}` values become `dg.EnvVar`s (shown by name in the UI)."""
    if isinstance(config, FileSourceConfig):
        path = _value(config.path)
        if isinstance(path, str) and not path.startswith("s3://") and not Path(path).is_absolute():
            path = str(base_dir / path)
        columns = config.timestamp_column
        options = s3_storage_options(
            settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, settings.s3_region
        )
        return FileSource(
            name=name,
            path=path,
            format=config.format,
            timestamp_columns=[columns] if isinstance(columns, str) else list(columns),
            timestamp_format=config.timestamp_format,
            timestamp_unit=config.timestamp_unit,
            timestamp_offset_us=config.timestamp_offset // timedelta(microseconds=1),
            timezone=config.timezone,
            delimiter=config.delimiter,
            decimal=config.decimal,
            storage_options=options if isinstance(path, str) and path.startswith("s3://") else None,
        )
    if isinstance(config, DemoSourceConfig):
        return DemoSource(name=name, seed=config.seed, cadence_seconds=int(config.cadence.total_seconds()))
    if isinstance(config, HttpSourceConfig):
        return HttpSource(
            name=name,
            url=_value(config.url),
            format=config.format,
            records=config.records,
            timestamp_field=config.timestamp_field,
            value_field=config.value_field,
            timestamp_unit=config.timestamp_unit,
            next=config.next,
            page_param=config.page_param,
            page_size=config.page_size,
            headers={k: _value(v) for k, v in config.headers.items()},
            forward_headers=list(config.forward_headers),
            timeout_seconds=config.timeout.total_seconds(),
            retries=config.retries,
            rate_limit=config.rate_limit,
        )
    if isinstance(config, CustomSourceConfig):
        module_name, _, class_name = config.kind.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            raise SourceError(f"source {name!r}: cannot import its kind {config.kind!r}") from None
        options = {k: _value(v) for k, v in config.options.items()}
        return cls(**options)
    raise SourceError(f"source {name!r}: kind {config.kind!r} is not supported by this build")


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
    return dg.EnvVar(value.name) if isinstance(value, EnvRef) else value


def _env(name: str, value: str | None) -> Any:
    """A secret from the environment as `dg.EnvVar` (its name shows in the UI, never its value)."""
    return dg.EnvVar(name) if value else None
