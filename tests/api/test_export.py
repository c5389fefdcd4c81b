"""Exports: CSV streams; Parquet to S3 behind a SigV4 presigned URL, or an API link without S3."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import dagster as dg
import httpx
import polars as pl
import pytest

from resources.export_store import ExportStore
from tests.api.conftest import LiveApi, start_api, write_catalog
from tests.conftest import S3_BUCKET
from tests.s3 import ACCESS_KEY, SECRET_KEY, list_keys

EXPORT = "/api/datahub/export"
BODY = {"series": [{"entity_id": "urn:tetouan:zone1", "attribute": "power"},
                   {"entity_id": "urn:demo:plant1", "attribute": "output"}],
        "start_time": "2017-01-02T00:00:00Z", "end_time": "2017-01-04T00:00:00Z", "format": "parquet"}


def test_csv_export_streams_in_chunks_with_bounded_client_memory(api: LiveApi) -> None:
    body = {**BODY, "format": "csv", "resolution": "10s", "method": "locf",
            "start_time": "2017-01-01T00:00:00Z", "end_time": "2017-01-04T00:00:00Z"}
    chunks = rows = largest = 0
    with api.client.stream("POST", EXPORT, json=body) as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        assert answer.headers.get("transfer-encoding") == "chunked"
        for chunk in answer.iter_raw():
            chunks += 1
            largest = max(largest, len(chunk))
            rows += chunk.count(b"\n")
    assert rows == 3 * 8640 + 1  # every 10 s for 3 days, plus the header
    assert chunks > 5 and largest < 2_000_000  # the client never holds the whole export


def test_parquet_without_s3_is_a_signed_expiring_link_of_the_api(api: LiveApi) -> None:
    # The link comes from DATAHUB_EXTERNAL_URL, never from the request's Host header.
    link = api.client.post(EXPORT, json=BODY, headers={"Host": "evil.example:666"}).json()
    assert set(link) == {"download_url", "expires_in", "format"} and link["format"] == "parquet"
    url = link["download_url"]
    assert url.startswith(api.url + "/api/datahub/export/files/default/")
    query = parse_qs(urlparse(url).query)
    assert int(query["expires"][0]) - time.time() == pytest.approx(link["expires_in"], abs=5)
    frame = pl.read_parquet(io.BytesIO(httpx.get(url).content))  # a plain GET: no header, no token
    assert frame.columns == ["timestamp", "urn:tetouan:zone1.power", "urn:demo:plant1.output"]
    assert frame.schema["timestamp"] == pl.Datetime("us", "UTC") and frame.height == 48  # hourly by default
    # The signature covers the tenant, the file and the expiry: change any and the link is refused.
    for forged in (url.replace("/default/", "/acme/"), url.replace(query["expires"][0], str(int(time.time()) + 10**6)),
                   url[:-4] + "0000"):
        answer = httpx.get(forged)
        assert answer.status_code == 403 and answer.json()["error"].startswith(("signature:", "expires:"))


def test_another_tenants_link_works_in_a_browser_until_it_expires(api: LiveApi) -> None:
    body = {**BODY, "series": [{"entity_id": "urn:acme:secret", "attribute": "output"}]}
    link = api.client.post(EXPORT, json=body, headers={"X-Tenant-ID": "acme"}).json()["download_url"]
    assert "/export/files/acme/" in link
    assert httpx.get(link).status_code == 200
    name = urlparse(link).path.rsplit("/", 1)[1]
    store = ExportStore(local_dir=str(api.settings.exports_dir))  # the same folder, so the same secret
    expired = store.local_link(api.url, "acme", name, now=time.time() - 2 * store.expires_in)
    answer = httpx.get(expired)
    assert answer.status_code == 403 and answer.json() == {"error": "expires: the link has expired; export again "
                                                                    "for a new one"}


@pytest.fixture(scope="module")
def s3_api(tmp_path_factory: pytest.TempPathFactory, api_instance: dg.DagsterInstance,
           s3_endpoint: str) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("s3api")
    external = s3_endpoint.replace("127.0.0.1", "localhost")  # the host clients download from
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("S3_ACCESS_KEY", ACCESS_KEY)
        mp.setenv("S3_SECRET_KEY", SECRET_KEY)
        yield from start_api(root, write_catalog(root), api_instance, s3_bucket=S3_BUCKET,
                             s3_endpoint=s3_endpoint, s3_external_url=external, s3_access_key=ACCESS_KEY,
                             s3_secret_key=SECRET_KEY)


@pytest.mark.integration
def test_parquet_goes_to_s3_with_a_sigv4_url_for_the_external_host(s3_api: LiveApi, s3_endpoint: str,
                                                                   s3: object) -> None:
    body = {**BODY, "aggregation": "1 day"}
    link = s3_api.client.post(EXPORT, json=body).json()
    url = urlparse(link["download_url"])
    assert url.hostname == "localhost" and url.port == urlparse(s3_endpoint).port
    assert url.path.startswith(f"/{S3_BUCKET}/exports/default/") and url.path.endswith(".parquet")
    query = parse_qs(url.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Credential"][0].startswith(f"{ACCESS_KEY}/") and query["X-Amz-Credential"][0].endswith(
        "/us-east-1/s3/aws4_request")
    assert query["X-Amz-Expires"] == [str(link["expires_in"])] and "X-Amz-Signature" in query
    assert query["X-Amz-SignedHeaders"] == ["host"]
    download = httpx.get(link["download_url"])  # a plain GET, no credentials
    assert download.status_code == 200
    frame = pl.read_parquet(io.BytesIO(download.content))
    assert frame.height == 2 and frame["timestamp"].dt.day().to_list() == [2, 3]
    keys = list_keys(s3, S3_BUCKET, "exports/default/")
    assert url.path.removeprefix(f"/{S3_BUCKET}/") in keys


def test_an_export_that_cannot_be_stored_is_a_503_and_never_recorded(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = tmp_path_factory.mktemp("unstorable")
    (root / "exports-file").write_text("a file where the exports folder should be")
    with dg.instance_for_test() as api_instance:
        run_unstorable(root, api_instance)


def run_unstorable(root: Path, api_instance: dg.DagsterInstance) -> None:
    for api in start_api(root, write_catalog(root), api_instance, exports_dir=root / "exports-file"):
        key = dg.AssetKey(["ondemand", "export"])
        before = api_instance.get_event_records(dg.EventRecordsFilter(dg.DagsterEventType.ASSET_MATERIALIZATION,
                                                                      asset_key=key), limit=1000)
        answer = api.client.post(EXPORT, json=BODY)
        assert answer.status_code == 503 and answer.json()["error"].startswith("format: the parquet export")
        time.sleep(1.0)  # three flushes of the lineage writer
        after = api_instance.get_event_records(dg.EventRecordsFilter(dg.DagsterEventType.ASSET_MATERIALIZATION,
                                                                     asset_key=key), limit=1000)
        assert len(after) == len(before), "an export that was not stored is not in the lineage"
