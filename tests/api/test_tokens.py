"""With DATAHUB_JWT_SECRET set, a verified bearer token names the tenant."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import jwt
import pytest

from tests.api.conftest import LiveApi, start_api, write_catalog

SECRET = "test-secret-of-at-least-32-bytes-length!"
BODY = {"series": [{"entity_id": "urn:acme:secret", "attribute": "output"}],
        "start_time": "2017-01-02T00:00:00Z", "end_time": "2017-01-02T01:00:00Z"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, api_instance: dg.DagsterInstance) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("jwt")
    yield from start_api(root, write_catalog(root), api_instance, jwt_secret=SECRET)


def bearer(claims: dict[str, object], key: str = SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm='HS256')}"}


def test_token_tenant_is_the_tenant(secured: LiveApi) -> None:
    align = "/api/datahub/timeseries/align"
    ok = secured.client.post(align, json=BODY, headers=bearer({"tenant_id": "acme"}))
    assert ok.status_code == 200
    assert secured.client.post(align, json=BODY, headers=bearer({"tenant_id": "default"})).status_code == 404
    assert secured.client.post(align, json=BODY, headers={**bearer({"tenant_id": "acme"}),
                                                          "X-Tenant-ID": "default"}).status_code == 403
    missing = secured.client.post(align, json=BODY, headers={"X-Tenant-ID": "acme"})
    assert missing.status_code == 401 and missing.json()["error"].startswith("Authorization:")
    forged = secured.client.post(align, json=BODY, headers=bearer({"tenant_id": "acme"}, key="x" * 40))
    assert forged.status_code == 401
    no_claim = secured.client.post(align, json=BODY, headers=bearer({"sub": "someone"}))
    assert no_claim.status_code == 403
