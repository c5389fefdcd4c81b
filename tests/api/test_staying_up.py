"""The API stays up on a bad day: a hanging source, a server asking to come back in an hour, endless pages,
clients that leave. Every request has a deadline; one source's trouble never reaches /health or the others."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import httpx
import pytest

from tests.api.conftest import LiveApi, start_api

DEADLINE = 3.0
CATALOG = """\
partitions: {start: "2016-01-01"}
sources:
  slow: {kind: http, url: "BASE/hang/{entity}?from={start}", timeout: 60s}
  eager: {kind: http, url: "BASE/busy/{entity}"}
  endless: {kind: http, url: "BASE/endless/{entity}", next: next, records: items}
  flaky: {kind: http, url: "BASE/flaky/{entity}", retries: 20}
  plant: {kind: demo, seed: 7, cadence: 1m}
series:
  - {entity: s1, attribute: v, source: slow, cadence: 1h}
  - {entity: e1, attribute: v, source: eager, cadence: 1h}
  - {entity: n1, attribute: v, source: endless, cadence: 1h}
  - {entity: f1, attribute: v, source: flaky, cadence: 1h}
  - {entity: "urn:demo:plant1", attribute: output, source: plant, cadence: 1m}
"""


class Upstream(ThreadingHTTPServer):
    """A misbehaving source on 127.0.0.1: `/hang` never answers (until released), `/busy` is a 503 asking
    to come back in an hour, `/endless` links to a next page forever, `/flaky` fails slowly."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.release = threading.Event()
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, kind: str) -> int:
        with self.lock:
            return self.counts.get(kind, 0)


class _Handler(BaseHTTPRequestHandler):
    server: Upstream

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        kind = self.path.split("/")[1]
        with self.server.lock:
            self.server.counts[kind] = self.server.counts.get(kind, 0) + 1
        if kind == "hang":
            self.server.release.wait(120)
            self._send(200, [])
        elif kind == "busy":
            self._send(503, {"error": "later"}, {"Retry-After": "3600"})
        elif kind == "endless":
            page = int(parse_qs(urlsplit(self.path).query).get("page", ["0"])[0])
            self._send(200, {"items": [], "next": f"/endless/n1?page={page + 1}"})
        else:  # flaky
            time.sleep(0.4)
            self._send(503, {"error": "down"})

    def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(data)),
                            **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, api_instance: dg.DagsterInstance
        ) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("stayup")
    path = root / "catalog.yaml"
    path.write_text(CATALOG.replace("BASE", upstream.base))
    yield from start_api(root, path, api_instance, request_timeout=DEADLINE, source_queue=4)


def body(entity: str, day: int = 2, attribute: str = "v") -> dict[str, object]:
    start = 1451606400 + day * 86400  # 2016-01-01 + day
    return {"series": [{"entity_id": entity, "attribute": attribute}], "start_time": start,
            "end_time": start + 3600, "resolution": "1h", "method": "mean"}


ALIGN = "/api/datahub/timeseries/align"


def test_a_hanging_source_never_takes_health_or_other_sources_down(api: LiveApi, upstream: Upstream) -> None:
    """80 requests for 80 days of a source that never answers: one fetch runs, four wait, the rest are
    turned away at once with a 503; the waiting ones end in a 504 at the deadline. Meanwhile /health and
    another source answer within a second."""
    pool = concurrent.futures.ThreadPoolExecutor(80)
    with httpx.Client(base_url=api.url, timeout=60, limits=httpx.Limits(max_connections=200)) as client:
        began = time.monotonic()
        futures = [pool.submit(client.post, ALIGN, json=body("s1", day=day)) for day in range(2, 82)]
        probes: list[float] = []
        others: list[int] = []
        while not all(f.done() for f in futures):
            t = time.monotonic()
            assert client.get("/health", timeout=5).status_code == 200
            probes.append(time.monotonic() - t)
            t = time.monotonic()
            others.append(client.post(ALIGN, json=body("urn:demo:plant1", attribute="output")).status_code)
            probes.append(time.monotonic() - t)
            time.sleep(0.1)
        took = time.monotonic() - began
        answers = [f.result() for f in futures]
    pool.shutdown()
    assert max(probes) < 1.0, max(probes)
    assert set(others) == {200}
    codes = [a.status_code for a in answers]
    assert set(codes) == {503, 504}, codes
    busy = [a for a in answers if a.status_code == 503]
    assert len(busy) >= 70 and all(a.headers["Retry-After"] == "5" for a in busy)
    assert all(a.json()["error"].startswith("source 'slow': ") for a in answers)
    assert took < DEADLINE + 4, took
    assert upstream.count("hang") <= 5  # one fetch at a time, never one per request


def test_retry_after_beyond_the_deadline_fails_at_once(api: LiveApi, upstream: Upstream) -> None:
    began = time.monotonic()
    answer = api.client.post(ALIGN, json=body("e1"))
    assert time.monotonic() - began < 1.5
    assert answer.status_code == 504
    assert answer.json()["error"] == f"source 'eager': page 1: no answer within {DEADLINE:g} s after HTTP 503 " \
                                     "Service Unavailable"


def test_endless_next_links_stop_at_the_deadline(api: LiveApi, upstream: Upstream) -> None:
    began = time.monotonic()
    answer = api.client.post(ALIGN, json=body("n1"))
    assert DEADLINE - 0.5 < time.monotonic() - began < DEADLINE + 1.5
    assert answer.status_code == 504 and answer.json()["error"].startswith("source 'endless': page ")
    pages = upstream.count("endless")
    time.sleep(0.5)
    assert upstream.count("endless") == pages, "paging stopped with the request"


def test_work_stops_when_the_client_goes_away(api: LiveApi, upstream: Upstream) -> None:
    """A slow failing source is retried for the whole deadline, unless the client leaves: then the
    attempt in flight is the last one."""
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(api.url + ALIGN, json=body("f1"), timeout=0.2)
    time.sleep(DEADLINE + 0.5)
    assert upstream.count("flaky") == 1
    # Kept, the same request retries until its deadline.
    answer = api.client.post(ALIGN, json=body("f1", day=3))
    assert answer.status_code == 504
    assert upstream.count("flaky") >= 3
