"""The schedule's refresh of today's partition asks the source only from the last stored reading (minus an
overlap) and merges; re-running any partition leaves the same bytes."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from datahub_assets.definitions import build_definitions
from datahub_assets.factories import REFRESH_TAG
from resources.catalog import load_catalog
from resources.settings import Settings

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
READINGS = [TODAY + timedelta(minutes=10 * i) for i in range(6)]  # 00:00 .. 00:50 today


@pytest.fixture
def upstream() -> Iterator[tuple[HTTPServer, list[datetime]]]:
    asked: list[datetime] = []
    known = list(READINGS[:4])

    def answer(request: Request) -> Response:
        start = datetime.fromisoformat(request.args["from"].replace("Z", "+00:00"))
        asked.append(start)
        rows = [{"ts": t.isoformat(), "value": t.minute + 0.5} for t in known if t >= start]
        return Response(json.dumps(rows), content_type="application/json")

    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/r").respond_with_handler(answer)
    server.start()
    server.known = known  # type: ignore[attr-defined]
    yield server, asked
    server.clear()
    server.stop()


def test_refresh_asks_from_the_last_reading_and_reruns_are_idempotent(
    tmp_path: Path, upstream: tuple[HTTPServer, list[datetime]]
) -> None:
    server, asked = upstream
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent(f"""\
        partitions: {{start: "{(TODAY - timedelta(days=1)).date()}"}}
        sources:
          live: {{kind: http, url: "{server.url_for('/r')}?from={{start}}"}}
        series:
          - {{entity: e, attribute: v, source: live, cadence: 10m}}
        """))
    defs = build_definitions(load_catalog(tmp_path / "catalog.yaml"), Settings(lake=str(tmp_path / "lake")))
    job = defs.resolve_implicit_global_asset_job_def()
    part = tmp_path / f"lake/default/raw/live/e_v/date={TODAY.date()}/data.parquet"
    with dg.instance_for_test() as instance:
        def run(tags: dict[str, str]) -> None:
            assert job.execute_in_process(instance=instance, partition_key=TODAY.date().isoformat(), tags=tags,
                                          raise_on_error=False).success

        run({REFRESH_TAG: "incremental"})  # nothing stored yet: the whole day
        assert asked == [TODAY]
        first = part.read_bytes()
        run({REFRESH_TAG: "incremental"})  # nothing new upstream: the same bytes
        assert asked[-1] == READINGS[3] - timedelta(minutes=10) and part.read_bytes() == first
        server.known.extend(READINGS[4:])  # type: ignore[attr-defined]
        run({REFRESH_TAG: "incremental"})
        assert asked[-1] == READINGS[3] - timedelta(minutes=10)  # the last stored reading minus the overlap
        merged = pl.read_parquet(part)
        assert merged["ts"].to_list() == READINGS and merged["value"].to_list() == [t.minute + 0.5 for t in READINGS]
        refreshed = part.read_bytes()
        run({})  # a full re-run of the partition: same rows, same bytes
        assert asked[-1] == TODAY and part.read_bytes() == refreshed
