"""Fixtures for resource tests: a real S3 endpoint (moto over HTTP) started once per session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.s3 import moto_s3, s3_client

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
