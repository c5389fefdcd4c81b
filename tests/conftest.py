"""Shared fixtures: real data from ../shared/data, Hypothesis profiles."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.s3 import moto_s3, s3_client

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("DATAHUB_SHARED_DATA", ROOT.parent / "shared" / "data"))

settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA} (set DATAHUB_SHARED_DATA)")
    return SHARED_DATA


S3_BUCKET = "datahub-test"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The endpoint URL of a moto S3 server with the bucket `S3_BUCKET`; stopped when the session ends."""
    with moto_s3() as endpoint:
        s3_client(endpoint).create_bucket(Bucket=S3_BUCKET)
        yield endpoint


@pytest.fixture(scope="session")
def s3(s3_endpoint: str) -> Any:
    """A boto3 client for the test endpoint."""
    return s3_client(s3_endpoint)
