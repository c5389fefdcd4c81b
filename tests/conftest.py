"""Shared fixtures: the real data slices under tests/data, Hypothesis profiles."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests import reads
from tests.s3 import moto_s3, s3_client

reads.install()

ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = ROOT / "tests" / "data"

settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Slices of published data sets, shipped with the tests (see tests/data/README.md)."""
    return REAL_DATA


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


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never answers: a server that hangs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        yield int(sock.getsockname()[1])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The check that no test read outside the clone runs after every other test."""
    last = [i for i in items if i.name == "test_no_test_read_outside_the_clone"]
    items[:] = [i for i in items if i not in last] + last
