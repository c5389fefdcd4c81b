"""Settings from the environment, read in one place (DESIGN section 8 and 9)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
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
