"""Settings from the environment, read in one place (DESIGN section 8 and 9)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_CATALOG = Path(__file__).resolve().parent.parent / "datahub_assets" / "demo" / "catalog.yaml"


class Settings(BaseSettings):
    """Everything has a default: with no environment at all the embedded default runs."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    catalog: Path = Field(DEMO_CATALOG, validation_alias="DATAHUB_CATALOG")
    lake: str = Field(".datahub/lake", validation_alias="DATAHUB_LAKE")
    dagster_home: Path = Field(Path(".datahub/dagster_home"), validation_alias="DAGSTER_HOME")
    s3_endpoint: str | None = Field(None, validation_alias="S3_ENDPOINT")
    s3_bucket: str | None = Field(None, validation_alias="S3_BUCKET")
    s3_access_key: str | None = Field(None, validation_alias="S3_ACCESS_KEY")
    s3_secret_key: str | None = Field(None, validation_alias="S3_SECRET_KEY")
    s3_region: str = Field("us-east-1", validation_alias=AliasChoices("S3_REGION"))
    s3_external_url: str | None = Field(None, validation_alias="S3_EXTERNAL_URL")
    exports_dir: Path = Field(Path(".datahub/exports"), validation_alias="DATAHUB_EXPORTS_DIR")
    export_url_expiry_seconds: int = Field(3600, validation_alias="DATAHUB_EXPORT_URL_EXPIRY", gt=0, le=604800)
    # API limits: a request beyond them is refused (413/422), never cut.
    max_series: int = Field(100, validation_alias="DATAHUB_MAX_SERIES", gt=0)
    max_cells: int = Field(5_000_000, validation_alias="DATAHUB_MAX_CELLS", gt=0)
    max_streamed_cells: int = Field(200_000_000, validation_alias="DATAHUB_MAX_STREAMED_CELLS", gt=0)
    max_window_days: int = Field(366, validation_alias="DATAHUB_MAX_WINDOW_DAYS", gt=0)
    read_through_max_days: int = Field(31, validation_alias="DATAHUB_READ_THROUGH_MAX_DAYS", ge=0)
    lineage_flush_seconds: float = Field(10.0, validation_alias="DATAHUB_LINEAGE_FLUSH_SECONDS", gt=0)
    lineage_queue_size: int = Field(10_000, validation_alias="DATAHUB_LINEAGE_QUEUE_SIZE", gt=0)
    dagster_graphql_url: str = Field("http://127.0.0.1:3000/graphql", validation_alias="DAGSTER_GRAPHQL_URL")
    jwt_secret: str | None = Field(None, validation_alias="DATAHUB_JWT_SECRET")
    jwks_url: str | None = Field(None, validation_alias="DATAHUB_JWKS_URL")
    jwks_timeout: float = Field(3.0, validation_alias="DATAHUB_JWKS_TIMEOUT", gt=0, le=60)
    jwt_audience: str | None = Field(None, validation_alias="DATAHUB_JWT_AUDIENCE")
    jwt_issuer: str | None = Field(None, validation_alias="DATAHUB_JWT_ISSUER")
    # Staying up: every request's deadline, each source's queue of waiting fetches, memory in flight.
    request_timeout: float = Field(30.0, validation_alias="DATAHUB_REQUEST_TIMEOUT", gt=0, le=3600)
    source_queue: int = Field(8, validation_alias="DATAHUB_SOURCE_QUEUE", gt=0, le=1000)
    max_bytes_in_flight: int = Field(512 * 2**20, validation_alias="DATAHUB_MAX_BYTES_IN_FLIGHT", gt=0)
    partition_cache_bytes: int = Field(256 * 2**20, validation_alias="DATAHUB_PARTITION_CACHE_BYTES", ge=0)
    api_threads: int = Field(64, validation_alias="DATAHUB_API_THREADS", ge=4, le=1024)
    # Download links of the API (exports without S3): built from this URL, signed, expiring.
    external_url: str = Field("http://127.0.0.1:8000", validation_alias="DATAHUB_EXTERNAL_URL")
    link_secret: str | None = Field(None, validation_alias="DATAHUB_LINK_SECRET")
    dagster_ui_url: str = Field("http://127.0.0.1:3000", validation_alias="DATAHUB_DAGSTER_UI_URL")
    # Alerts on failed runs and checks are posted here (a secret: never shown in the UI, logs or metadata).
    alert_webhook_url: SecretStr | None = Field(None, validation_alias="DATAHUB_ALERT_WEBHOOK_URL")


def variable_names() -> set[str]:
    """The environment variables Settings reads."""
    names: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
    return names
