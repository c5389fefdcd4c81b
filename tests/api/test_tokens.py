"""With DATAHUB_JWT_SECRET or DATAHUB_JWKS_URL set, a verified bearer token names the tenant."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Iterator
from typing import Any

import dagster as dg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pytest_httpserver import HTTPServer

from tests.api.conftest import LiveApi, start_api, write_catalog

SECRET = "test-secret-of-at-least-32-bytes-length!"
ALIGN = "/api/datahub/timeseries/align"
BODY = {"series": [{"entity_id": "urn:acme:secret", "attribute": "output"}],
        "start_time": "2017-01-02T00:00:00Z", "end_time": "2017-01-02T01:00:00Z"}
_LATER: Any = object()


def token(claims: dict[str, object], key: Any = SECRET, algorithm: str = "HS256", exp: Any = _LATER,
          **headers: str) -> str:
    claims = dict(claims)
    if exp is _LATER:
        claims["exp"] = int(time.time()) + 300
    elif exp is not None:
        claims["exp"] = exp
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers or None)


def bearer(claims: dict[str, object], key: Any = SECRET, **kw: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(claims, key, **kw)}"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, api_instance: dg.DagsterInstance) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("jwt")
    yield from start_api(root, write_catalog(root), api_instance, jwt_secret=SECRET)


def test_token_tenant_is_the_tenant(secured: LiveApi) -> None:
    ok = secured.client.post(ALIGN, json=BODY, headers=bearer({"tenant_id": "acme"}))
    assert ok.status_code == 200
    assert secured.client.post(ALIGN, json=BODY, headers=bearer({"tenant_id": "default"})).status_code == 404
    assert secured.client.post(ALIGN, json=BODY, headers={**bearer({"tenant_id": "acme"}),
                                                          "X-Tenant-ID": "default"}).status_code == 403
    missing = secured.client.post(ALIGN, json=BODY, headers={"X-Tenant-ID": "acme"})
    assert missing.status_code == 401 and missing.json()["error"].startswith("Authorization:")
    forged = secured.client.post(ALIGN, json=BODY, headers=bearer({"tenant_id": "acme"}, key="x" * 40))
    assert forged.status_code == 401
    no_claim = secured.client.post(ALIGN, json=BODY, headers=bearer({"sub": "someone"}))
    assert no_claim.status_code == 403


def test_a_token_without_exp_or_past_it_is_refused(secured: LiveApi) -> None:
    forever = secured.client.post(ALIGN, json=BODY, headers=bearer({"tenant_id": "acme"}, exp=None))
    assert forever.status_code == 401 and forever.json() == {"error": "Authorization: the token has no 'exp' claim"}
    stale = secured.client.post(ALIGN, json=BODY, headers=bearer({"tenant_id": "acme"}, exp=int(time.time()) - 60))
    assert stale.status_code == 401 and stale.json() == {"error": "Authorization: the token has expired"}


def test_a_header_given_twice_is_a_400(secured: LiveApi) -> None:
    auth = ("Authorization", bearer({"tenant_id": "acme"})["Authorization"])
    for headers in ([("X-Tenant-ID", "acme"), ("X-Tenant-ID", "default"), auth], [auth, auth]):
        answer = httpx.post(secured.url + ALIGN, json=BODY, headers=headers)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == f"{headers[1][0]}: given more than once"


def test_metrics_need_a_token_and_show_only_its_tenants_sources(secured: LiveApi) -> None:
    # Some traffic for both tenants' sources first.
    secured.client.post(ALIGN, json=BODY, headers=bearer({"tenant_id": "acme"}))
    plant = {**BODY, "series": [{"entity_id": "urn:demo:plant1", "attribute": "output"}]}
    assert secured.client.post(ALIGN, json=plant, headers=bearer({"tenant_id": "default"})).status_code == 200
    assert secured.client.get("/metrics").status_code == 401
    acme = secured.client.get("/metrics", headers=bearer({"tenant_id": "acme"})).text
    assert 'source="rival"' in acme and 'source="plant"' not in acme and 'tenant="default"' not in acme
    everything = secured.client.get("/metrics", headers=bearer({"sub": "prometheus", "scope": "metrics:all"})).text
    assert 'source="rival"' in everything and 'source="plant"' in everything


@pytest.fixture(scope="module")
def audience(tmp_path_factory: pytest.TempPathFactory, api_instance: dg.DagsterInstance) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("jwt-aud")
    yield from start_api(root, write_catalog(root), api_instance, jwt_secret=SECRET, jwt_audience="datahub",
                         jwt_issuer="https://login.example")


def test_audience_and_issuer_where_configured(audience: LiveApi) -> None:
    good = {"tenant_id": "acme", "aud": "datahub", "iss": "https://login.example"}
    assert audience.client.post(ALIGN, json=BODY, headers=bearer(good)).status_code == 200
    for bad in ({**good, "aud": "other"}, {**good, "iss": "https://evil.example"}, {"tenant_id": "acme"}):
        assert audience.client.post(ALIGN, json=BODY, headers=bearer(bad)).status_code == 401, bad


# -- keys from a JWKS URL ----------------------------------------------------------------------------------

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks(kid: str) -> dict[str, Any]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    return {"keys": [{**public, "kid": kid, "use": "sig", "alg": "RS256"}]}


@pytest.fixture(scope="module")
def key_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/jwks.json").respond_with_json(jwks("k1"))
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture(scope="module")
def with_jwks(tmp_path_factory: pytest.TempPathFactory, api_instance: dg.DagsterInstance,
              key_server: HTTPServer) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("jwks")
    yield from start_api(root, write_catalog(root), api_instance, jwks_url=key_server.url_for("/jwks.json"))


def test_jwks_keys_are_cached_and_forged_tokens_never_fetch_them_again(with_jwks: LiveApi,
                                                                       key_server: HTTPServer) -> None:
    fetches = lambda: sum(1 for request, _ in key_server.log if request.path == "/jwks.json")  # noqa: E731
    good = bearer({"tenant_id": "acme"}, KEY, algorithm="RS256", kid="k1")
    for _ in range(5):
        assert with_jwks.client.post(ALIGN, json=BODY, headers=good).status_code == 200
    assert fetches() == 1
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: with_jwks.client.post(
            ALIGN, json=BODY, headers=bearer({"tenant_id": "acme"}, other, algorithm="RS256", kid=f"forged{i}")),
            range(24)))
    assert {a.status_code for a in answers} == {401}
    assert fetches() <= 2, "an unknown key id refreshes the key set at most once per interval"
    assert with_jwks.client.post(ALIGN, json=BODY, headers=good).status_code == 200


def test_a_hanging_key_server_costs_a_short_timeout_and_never_health(
    tmp_path_factory: pytest.TempPathFactory, api_instance: dg.DagsterInstance, silent_port: int
) -> None:
    root = tmp_path_factory.mktemp("jwks-hang")
    for api in start_api(root, write_catalog(root), api_instance, jwks_url=f"http://127.0.0.1:{silent_port}/k",
                         jwks_timeout=1.0):
        headers = bearer({"tenant_id": "acme"}, KEY, algorithm="RS256", kid="k1")
        with concurrent.futures.ThreadPoolExecutor(45) as pool:
            began = time.monotonic()
            answers = [pool.submit(api.client.post, ALIGN, json=BODY, headers=headers) for _ in range(45)]
            time.sleep(0.3)
            health = [api.client.get("/health", timeout=5) for _ in range(5)]
            codes = {a.result().status_code for a in answers}
            took = time.monotonic() - began
        assert {h.status_code for h in health} == {200}
        assert max(h.elapsed.total_seconds() for h in health) < 1.0
        assert codes <= {401, 503} and took < 10, (codes, took)
