"""A real S3 endpoint over HTTP for tests: moto's threaded server on 127.0.0.1 and a free port.

    with moto_s3() as endpoint:
        s3_client(endpoint).create_bucket(Bucket="lake")

While the server runs, the process sees fake AWS credentials (`testing`) and no AWS profile, endpoint or
config file of the machine's own; the previous environment is restored when the block ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"

_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_DROPPED_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


@contextmanager
def fake_aws_env() -> Iterator[None]:
    """Fake AWS credentials in `os.environ` for the block; the previous values are restored after it."""
    names = (*_FAKE_ENV, *_DROPPED_ENV)
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name in _DROPPED_ENV:
            os.environ.pop(name, None)
        os.environ.update(_FAKE_ENV)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def moto_s3(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run moto's S3 server in a thread (port 0: a free one); yield its endpoint URL, stop it afterwards."""
    from moto.server import ThreadedMotoServer

    with fake_aws_env():
        server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        server.start()
        try:
            bound_host, bound_port = server.get_host_and_port()
            yield f"http://{bound_host}:{bound_port}"
        finally:
            server.stop()
            wsgi = getattr(server, "_server", None)
            if wsgi is not None:
                wsgi.server_close()  # release the listening socket, not only the serving thread


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for the endpoint, with the fake credentials."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )


def list_keys(client: Any, bucket: str, prefix: str = "") -> list[str]:
    """Every key under the prefix, sorted."""
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return sorted(keys)
