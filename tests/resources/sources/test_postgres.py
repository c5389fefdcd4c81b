"""The postgres source against the real PostgreSQL on 127.0.0.1: a fresh database per module holding 1M readings
in a TimescaleDB-style long table, a wide table with `timestamp without time zone` stamps in its own schema, NULL
values and duplicate stamps with an insertion id. Values are checked against SQL; failures name the source and
the series and never the DSN or its password; the deadline of an API request cancels the statement on the
server."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import psycopg
import pytest

from resources import deadline
from resources.catalog import CatalogError, load_catalog
from resources.registry import make_resources, source_key
from resources.settings import Settings
from resources.sources.base import FRAME_SCHEMA, SeriesRef, SourceError, SourceTimeout
from resources.sources.postgres import PostgresSource, translate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

HOST = "127.0.0.1:5432"
PASSWORD = "pw-7f3c9a-never-shown"  # the server trusts local clients: a password is carried, never checked
ENTITIES = 10
ROWS = 100_000  # per entity, every 10 s from 2024-01-01: 1M readings, 2024-01-01 .. 2024-01-12 13:46:30
T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY2 = datetime(2024, 1, 2, tzinfo=UTC)
DAY3 = datetime(2024, 1, 3, tzinfo=UTC)
SERIES = SeriesRef("urn:e:3", "power", "power")

SETUP = f"""
ALTER DATABASE {{db}} SET timezone TO 'America/New_York';  -- sessions start off UTC: the reader must not care
CREATE TABLE readings (ts timestamptz NOT NULL, entity_id text NOT NULL, attribute text NOT NULL,
                       value double precision);
INSERT INTO readings
SELECT timestamptz '2024-01-01 00:00:00+00' + i * interval '10 seconds', 'urn:e:' || e, 'power',
       CASE WHEN i % 997 = 5 THEN NULL ELSE e * 1000 + (i % 600) * 0.25 END
FROM generate_series(1, {ENTITIES}) AS e, generate_series(0, {ROWS - 1}) AS i;
CREATE INDEX readings_series ON readings (entity_id, attribute, ts);
ANALYZE readings;

CREATE SCHEMA plant;
CREATE TABLE plant."Wide Readings" (stamp timestamp NOT NULL, "Output kW" real, temp numeric(6, 2), label text,
                                    seq integer);
INSERT INTO plant."Wide Readings"
SELECT timestamp '2024-01-01 00:00:00' + i * interval '1 minute', CASE WHEN i % 50 = 0 THEN NULL ELSE i * 0.5 END,
       (i % 40) - 10.25, 'L' || i, i
FROM generate_series(0, 4 * 1440 - 1) AS i;

CREATE TABLE revised (id bigint PRIMARY KEY, ts timestamptz, entity_id text, attribute text, value float8);
INSERT INTO revised VALUES
  (3, '2024-01-02 00:00:00+00', 'urn:r:1', 'power', 30), (1, '2024-01-02 00:00:00+00', 'urn:r:1', 'power', 10),
  (2, '2024-01-02 00:00:00+00', 'urn:r:1', 'power', 20), (5, '2024-01-02 00:10:00+00', 'urn:r:1', 'power', NULL),
  (4, '2024-01-02 00:10:00+00', 'urn:r:1', 'power', 40), (6, '2024-01-02 00:20:00+00', 'urn:r:1', 'energy', 1),
  (7, '2024-01-02 00:20:00+00', 'urn:r:2', 'power', 2), (8, NULL, 'urn:r:2', 'power', 3);
"""


@dataclass(frozen=True)
class Database:
    name: str
    dsn: str  # with a password, as a real one would be

    def truth(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(f"postgresql://postgres@{HOST}/{self.name}") as conn:
            conn.execute("SET TIME ZONE 'UTC'")
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def db() -> Iterator[Database]:
    name = f"datahub_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"postgresql://postgres@{HOST}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(f"postgresql://postgres@{HOST}/{name}", autocommit=True) as conn:
            conn.execute(SETUP.format(db=f'"{name}"'))  # type: ignore[arg-type]
        yield Database(name, f"postgresql://postgres:{PASSWORD}@{HOST}/{name}")
    finally:
        with psycopg.connect(f"postgresql://postgres@{HOST}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def make(db: Database) -> Iterator[Any]:
    """`make(**keys)`: a PostgresSource named `pg` on the test database (the DSN unless given); closed after."""
    made: list[PostgresSource] = []

    def build(**keys: Any) -> PostgresSource:
        source = PostgresSource(name="pg", **{"dsn": db.dsn, **keys})
        made.append(source)
        return source

    yield build
    for source in made:
        source.close()


def frame_of(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"ts": pl.Datetime("us", "UTC"), "value": pl.Float64}, orient="row")


def assert_clean_message(text: str, db: Database) -> None:
    assert PASSWORD not in text
    assert db.dsn not in text and "postgresql://" not in text


# -- reading ----------------------------------------------------------------------------------------------


def test_a_long_table_gives_one_series_in_the_window_as_sql_does(make: Any, db: Database) -> None:
    source = make(table="readings")
    start, end = T0 + timedelta(seconds=10 * 20_000), T0 + timedelta(seconds=10 * 80_000)  # both on a reading
    frame = source.read(SERIES, start=start, end=end)
    assert frame.schema == FRAME_SCHEMA
    truth = frame_of(db.truth("SELECT ts, value FROM readings WHERE entity_id = %s AND attribute = %s AND ts >= %s "
                              "AND ts < %s ORDER BY ts", "urn:e:3", "power", start, end))
    assert frame.height == 60_000 and frame["ts"][0] == start and frame["ts"][-1] == end - timedelta(seconds=10)
    assert frame.equals(truth)
    assert frame["value"].null_count() == truth["value"].null_count() > 0, "nulls are kept"
    whole = source.read(SERIES, start=T0, end=T0 + timedelta(days=30))
    assert whole.height == ROWS


def test_a_wide_table_in_a_schema_with_stamps_without_time_zone_taken_as_utc(make: Any, db: Database) -> None:
    source = make(table='plant.Wide Readings', layout="wide", ts_column="stamp", order_by="seq")
    frame = source.read(SeriesRef("urn:plant:1", "output", "Output kW"), start=DAY2, end=DAY3)
    truth = frame_of(db.truth('SELECT stamp AT TIME ZONE \'UTC\', "Output kW" FROM plant."Wide Readings" '
                              "WHERE stamp >= '2024-01-02' AND stamp < '2024-01-03' ORDER BY stamp"))
    assert frame.height == 1440 and frame["ts"][0] == DAY2, "naive stamps are UTC, whatever the session's zone"
    assert frame.equals(truth)
    assert frame["value"].null_count() == 1440 // 50 + 1
    temp = source.read(SeriesRef("urn:plant:1", "temp", "temp"), start=DAY2, end=DAY2 + timedelta(minutes=3))
    assert temp["value"].to_list() == [-10.25, -9.25, -8.25], "numeric is cast to float8"


def test_order_by_delivers_readings_sharing_a_stamp_in_order_so_the_last_wins(make: Any) -> None:
    from datahub_assets.engine.schema import clean

    source = make(table="revised", order_by="id")
    frame = source.read(SeriesRef("urn:r:1", "power", "power"), start=DAY2, end=DAY3)
    assert frame["value"].to_list() == [10.0, 20.0, 30.0, 40.0, None], "by stamp, then by id"
    assert clean(frame.lazy()).collect()["value"].to_list() == [30.0, 40.0]
    picked = source.read(SeriesRef("urn:r:1", "energy", "energy"), start=DAY2, end=DAY3)
    assert picked["value"].to_list() == [1.0], "the series' column picks the attribute"
    assert source.read(SeriesRef("urn:r:2", "power", "power"), start=DAY2, end=DAY3)["value"].to_list() == [2.0]


def test_a_query_with_named_parameters_reads_as_the_table_does(make: Any) -> None:
    query = """
        -- the readings of one series; ':attribute' in a comment is no parameter
        WITH picked AS (
            SELECT ts AS "when", value::numeric AS reading, 'a:b' AS note, $$ :not_one $$ AS tag
            FROM readings
            WHERE entity_id = :entity AND attribute = :attribute AND ts >= :start AND ts < :end
        )
        SELECT "when", reading FROM picked;
    """
    source = make(query=query, ts_column="when", value_column="reading")
    table = make(table="readings")
    got = source.read(SERIES, start=DAY2, end=DAY3)
    assert got.height == 8640
    assert got.equals(table.read(SERIES, start=DAY2, end=DAY3))
    # A query using only the window, in the wide layout: the series' column is the query's value column.
    wide = make(query='SELECT stamp, "Output kW", seq FROM plant."Wide Readings" WHERE stamp >= :start::timestamp '
                      "AND stamp < :end::timestamp", layout="wide", ts_column="stamp", order_by="seq")
    assert wide.read(SeriesRef("urn:plant:1", "output", "Output kW"), start=DAY2, end=DAY3).height == 1440


def test_stamps_outside_the_window_never_come_back_even_from_a_query(make: Any) -> None:
    source = make(query="SELECT ts, value FROM readings WHERE entity_id = :entity")  # no window of its own
    frame = source.read(SERIES, start=DAY2, end=DAY2 + timedelta(minutes=1))
    assert frame["ts"].to_list() == [DAY2 + timedelta(seconds=10 * i) for i in range(6)]


@pytest.mark.parametrize(("query", "sql", "names"), [
    ("SELECT ts, value FROM t WHERE e = :entity AND ts >= :start AND ts < :end AND e2 = :entity",
     "SELECT ts, value FROM t WHERE e = $1 AND ts >= $2 AND ts < $3 AND e2 = $1", ["entity", "start", "end"]),
    ("select v::float8, ':start', \":end\", E'\\':x', $q$ :y $q$ from t where a = :attribute ;  -- done",
     "select v::float8, ':start', \":end\", E'\\':x', $q$ :y $q$ from t where a = $1", ["attribute"]),
    ("(WITH x AS (SELECT 1 /* :a /* nested */ :b */) SELECT * FROM x)",
     "(WITH x AS (SELECT 1  ) SELECT * FROM x)", []),
])
def test_named_parameters_become_positional_ones(query: str, sql: str, names: list[str]) -> None:
    assert translate(query) == (sql, names)


@pytest.mark.parametrize(("query", "reason"), [
    ("SELECT 1 WHERE a = :id", "unknown parameter :id"),
    ("SELECT 1 WHERE a = $1", r"not \$1"),
    ("SELECT 1; DROP TABLE readings", "one statement"),
    ("DELETE FROM readings", "single SELECT"),
    ("INSERT INTO t SELECT 1", "single SELECT"),
    ("SELECT 'unterminated", "unterminated string"),
    ("SELECT 1 /* open", r"unterminated /\* comment"),
])
def test_queries_a_reader_would_refuse_fail_validation(query: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        translate(query)


def test_a_query_that_writes_is_stopped_by_the_read_only_transaction(make: Any, db: Database) -> None:
    source = make(query="WITH gone AS (DELETE FROM readings WHERE ts >= :start AND ts < :end RETURNING ts, value) "
                        "SELECT ts, value FROM gone")
    refused = r"source 'pg': series 'urn:e:3.power': the query failed \(SQLSTATE (25006|0A000)"
    with pytest.raises(SourceError, match=refused):
        source.read(SERIES, start=DAY2, end=DAY3)
    assert db.truth("SELECT count(*) FROM readings")[0][0] == ENTITIES * ROWS


# -- discovery ---------------------------------------------------------------------------------------------


def test_entities_are_the_distinct_pairs_of_a_long_table(make: Any, db: Database) -> None:
    indexed = make(table="readings")
    began = time.monotonic()
    found = indexed.entities()
    assert time.monotonic() - began < 2, "a skip scan along the (entity, attribute) index"
    assert found == sorted([SeriesRef(f"urn:e:{e}", "power", "power") for e in range(1, ENTITIES + 1)],
                           key=lambda r: r.entity)
    assert indexed.entities() == found, "kept a while"
    plain = make(table="revised")  # no index on the pair: one DISTINCT
    assert plain.entities() == [SeriesRef("urn:r:1", "energy", "energy"), SeriesRef("urn:r:1", "power", "power"),
                                SeriesRef("urn:r:2", "power", "power")]
    assert make(table="plant.Wide Readings", layout="wide", ts_column="stamp").entities() is None
    assert make(query="SELECT ts, value FROM readings WHERE ts >= :start").entities() is None
    with pytest.raises(SourceError, match=r"source 'pg': discovery: table 'nope' does not exist") as info:
        make(table="nope").entities()
    assert_clean_message(str(info.value), db)


# -- the catalog ------------------------------------------------------------------------------------------


CATALOG = """\
partitions: {start: "2024-01-01", end: "2024-01-12"}
sources:
  platform:
    kind: postgres
    dsn: "${DATAHUB_TEST_PG_DSN}"
    SOURCE
series:
  - {entity: "urn:e:3", attribute: power, source: platform, unit: kW, cadence: 10s}
"""


def write(tmp_path: Path, source: str, name: str = "catalog.yaml") -> Path:
    path = tmp_path / name
    path.write_text(CATALOG.replace("SOURCE", source))
    return path


@pytest.mark.parametrize(("source", "key", "reason"), [
    ("table: readings\n    query: SELECT 1", "sources.platform.query", "exactly one of 'table' or 'query'"),
    ("layout: long", "sources.platform", "exactly one of 'table' or 'query'"),
    ("table: readings\n    layout: tall", "sources.platform.layout", "must be one of long, wide"),
    ("table: a.b.c", "sources.platform.table", "'schema.table'"),
    ('table: \'bad"name\'', "sources.platform.table", "no double quotes"),
    ("table: readings\n    value_column: ''", "sources.platform.value_column", "must be a column name"),
    ("table: readings\n    order_by: 'x\"y'", "sources.platform.order_by", "must be a column name"),
    ("query: 'SELECT ts, value FROM r WHERE e = :who'", "sources.platform.query", "unknown parameter :who"),
    ("query: 'SELECT 1; SELECT 2'", "sources.platform.query", "one statement"),
    ("query: 'UPDATE r SET value = 0'", "sources.platform.query", "single SELECT"),
    ("table: readings\n    timeout: 7h", "sources.platform.timeout", "at most 6h"),
    ("table: readings\n    forward_headers: [Authorization]", "sources.platform.forward_headers", "no headers"),
    ("table: readings\n    colour: red", "sources.platform.colour", "Extra inputs"),
])
def test_validate_refuses_what_a_reader_would_refuse(tmp_path: Path, source: str, key: str, reason: str) -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog(write(tmp_path, source))
    assert info.value.key_path == key and reason in info.value.reason


def test_a_dsn_written_out_with_a_password_is_refused_without_showing_it(tmp_path: Path) -> None:
    path = write(tmp_path, "table: readings").read_text().replace(
        '"${DATAHUB_TEST_PG_DSN}"', f"postgresql://u:{PASSWORD}@db.internal/x")
    (tmp_path / "c.yaml").write_text(path)
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path / "c.yaml")
    assert info.value.key_path == "sources.platform.dsn" and "${VAR}" in info.value.reason
    assert PASSWORD not in str(info.value) and "db.internal" not in str(info.value)
    (tmp_path / "c.yaml").write_text(path.replace(f"postgresql://u:{PASSWORD}@db.internal/x", "mysql://db/x"))
    with pytest.raises(CatalogError, match="must be a libpq URL"):
        load_catalog(tmp_path / "c.yaml")


def test_the_catalog_source_shows_its_dsn_by_name(tmp_path: Path, db: Database,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAHUB_TEST_PG_DSN", db.dsn)
    resource = make_resources(load_catalog(write(tmp_path, "table: readings")), Settings(lake=str(tmp_path)))[
        source_key("platform")]
    assert isinstance(resource, PostgresSource) and resource.dsn == dg.EnvVar("DATAHUB_TEST_PG_DSN")
    assert PASSWORD not in repr(resource) and PASSWORD not in resource.model_dump_json()
    with dg.build_resources({"pg": resource}) as built:
        assert built.pg.read(SERIES, start=DAY2, end=DAY2 + timedelta(minutes=1)).height == 6


# -- failures ----------------------------------------------------------------------------------------------


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_failures_name_the_source_and_series_never_the_dsn(make: Any, db: Database) -> None:
    cases: list[tuple[dict[str, Any], str, bool]] = [
        ({"dsn": f"postgresql://postgres:{PASSWORD}@127.0.0.1:{closed_port()}/{db.name}", "table": "readings"},
         "cannot connect to the database: connection refused", True),
        ({"dsn": f"postgresql://nobody_{uuid.uuid4().hex[:6]}:{PASSWORD}@{HOST}/{db.name}", "table": "readings"},
         "cannot connect to the database: authentication failed", False),
        ({"dsn": f"postgresql://postgres:{PASSWORD}@{HOST}/no_such_db_{uuid.uuid4().hex[:6]}", "table": "readings"},
         "cannot connect to the database: the database does not exist", False),
        ({"dsn": f"postgresql://postgres:{PASSWORD}@{HOST}/{db.name}?sslmode=bogus", "table": "readings"},
         "cannot connect to the database: the dsn is not a valid libpq URL", False),
        ({"table": "missing"}, "table 'missing' does not exist", False),
        ({"table": "nowhere.readings"}, "table 'nowhere.readings' does not exist", False),
        ({"table": "readings", "value_column": "reading"},
         "table 'readings' has no column 'reading' (value_column)", False),
        ({"table": "readings", "order_by": "id"}, "table 'readings' has no column 'id' (order_by)", False),
        ({"table": "readings", "ts_column": "entity_id"}, "column 'entity_id' (ts_column) is text, not a timestamp",
         False),
        ({"table": "readings", "value_column": "attribute"},
         "column 'attribute' (value_column) is text, not a number", False),
        ({"query": "SELECT ts, value FROM nope WHERE ts >= :start"},
         'the query failed (SQLSTATE 42P01: relation "nope" does not exist)', False),
        ({"query": "SELECT ts FROM readings"}, "the query's result has no column 'value' (value_column)", False),
    ]
    for keys, reason, retryable in cases:
        with pytest.raises(SourceError) as info:
            make(**keys).read(SERIES, start=DAY2, end=DAY3)
        assert str(info.value) == f"source 'pg': series 'urn:e:3.power': {reason}", keys
        assert info.value.retryable is retryable, keys
        assert_clean_message(str(info.value), db)
        assert info.value.__cause__ is None and (info.value.__suppress_context__ or info.value.__context__ is None)
    wide = make(table="plant.Wide Readings", layout="wide", ts_column="stamp")
    with pytest.raises(SourceError) as info:
        wide.read(SeriesRef("urn:plant:1", "label", "label"), start=DAY2, end=DAY3)
    assert str(info.value) == ("source 'pg': series 'urn:plant:1.label': column 'label' (the series' column) is "
                               "text, not a number")
    with pytest.raises(SourceError, match=r"has no column 'Output' \(the series' column\)"):
        wide.read(SeriesRef("urn:plant:1", "output", "Output"), start=DAY2, end=DAY3)


def test_a_connection_the_server_dropped_is_replaced(make: Any, db: Database) -> None:
    source = make(table="readings")
    assert source.read(SERIES, start=DAY2, end=DAY2 + timedelta(minutes=1)).height == 6
    db.truth("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND application_name = "
             "'datahub'", db.name)
    assert source.read(SERIES, start=DAY2, end=DAY2 + timedelta(minutes=1)).height == 6


def sleeping(db: Database) -> list[tuple[Any, ...]]:
    return db.truth("SELECT pid FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                    "AND query LIKE '%%pg_sleep%%' AND pid <> pg_backend_pid()", db.name)


SLOW = "WITH nap AS (SELECT pg_sleep(30)) SELECT ts, value FROM readings, nap WHERE entity_id = :entity"


def wait_until_quiet(db: Database, seconds: float = 3.0) -> bool:
    until = time.monotonic() + seconds
    while sleeping(db):
        if time.monotonic() > until:
            return False
        time.sleep(0.05)
    return True


def test_the_deadline_bounds_the_statement_and_a_client_leaving_cancels_it(make: Any, db: Database) -> None:
    source = make(query=SLOW)
    began = time.monotonic()
    with deadline.within(deadline.Deadline(1.0)), pytest.raises(SourceTimeout) as info:
        source.read(SERIES, start=DAY2, end=DAY3)
    assert time.monotonic() - began < 2.5
    assert str(info.value) == "source 'pg': series 'urn:e:3.power': no answer within 1 s"
    assert not info.value.cancelled and wait_until_quiet(db)
    limit = deadline.Deadline(60)
    threading.Timer(0.5, limit.cancel).start()
    began = time.monotonic()
    with deadline.within(limit), pytest.raises(SourceTimeout) as info:
        source.read(SERIES, start=DAY2, end=DAY3)
    assert time.monotonic() - began < 2.0 and info.value.cancelled
    assert wait_until_quiet(db)
    with pytest.raises(SourceError, match=r"the query ran longer than its 'timeout' \(1s\)") as failed:
        make(query=SLOW, timeout="1s").read(SERIES, start=DAY2, end=DAY3)
    assert failed.value.retryable and wait_until_quiet(db)


# -- through the assets and the API ------------------------------------------------------------------------


def events_text(instance: dg.DagsterInstance, run_id: str) -> str:
    run = instance.get_run_by_id(run_id)
    logs = instance.all_logs(run_id)
    return "\n".join([dg.serialize_value(run), *(dg.serialize_value(e) for e in logs)])  # type: ignore[arg-type]


def test_assets_and_the_api_read_the_table(tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from datahub_assets.definitions import build_definitions
    from datahub_assets.materialize import PartitionRun, materialize_partitions
    from tests.api.conftest import start_api

    monkeypatch.setenv("DATAHUB_TEST_PG_DSN", db.dsn)
    path = write(tmp_path, "table: readings")
    settings = Settings(lake=str(tmp_path / "lake"))
    truth = frame_of(db.truth("SELECT ts, value FROM readings WHERE entity_id = 'urn:e:3' AND value IS NOT NULL "
                              "AND ts >= %s AND ts < %s ORDER BY ts", DAY2, DAY3 + timedelta(days=1)))
    runs: list[PartitionRun] = []
    with dg.instance_for_test() as instance:
        defs = build_definitions(load_catalog(path), settings)
        assert materialize_partitions("*", ["2024-01-02"], defs=defs, instance=instance, echo=lambda _: None,
                                      on_run=runs.append) == []
        stored = tmp_path / "lake" / "default" / "raw" / "platform" / "urn_e_3_power" / "date=2024-01-02" / \
            "data.parquet"
        assert pl.read_parquet(stored).equals(truth.filter(pl.col("ts") < DAY3))
        text = events_text(instance, runs[0].run_id)
        assert "urn_e_3_power" in text and PASSWORD not in text

        # The API: 2024-01-02 from the lake, 2024-01-03 read through from the table.
        api_gen = start_api(tmp_path, path, instance)
        api = next(api_gen)
        try:
            answer = api.client.post("/api/datahub/timeseries/align", json={
                "series": [{"entity_id": "urn:e:3", "attribute": "power"}], "start_time": DAY2.isoformat(),
                "end_time": (DAY3 + timedelta(days=1)).isoformat(), "resolution": "raw"})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert len(body["timestamps"]) == truth.height
            assert body["value_0"] == truth["value"].to_list()
            assert body["timestamps"][0] == DAY2.timestamp()
            listed = api.client.get("/api/datahub/entities").json()["entities"]
            assert listed[0]["id"] == "urn:e:3" and not listed[0]["attributes"][0]["discovered"]
            # The table's other entities come from discovery (distinct entity/attribute): listed, not declared.
            others = {e["id"] for e in listed[1:]}
            assert others == {f"urn:e:{i}" for i in range(1, ENTITIES + 1)} - {"urn:e:3"}
            assert all(a["discovered"] and a["asset"] is None for e in listed[1:] for a in e["attributes"])
        finally:
            next(api_gen, None)

        # The table goes away: the run fails naming the source, the stored partition stays as it was.
        before = stored.read_bytes()
        broken = write(tmp_path, "table: readings_gone", "broken.yaml")
        failed = materialize_partitions("*", ["2024-01-02"], defs=build_definitions(load_catalog(broken), settings),
                                        instance=instance, echo=lambda _: None, on_run=runs.append)
        assert failed == ["2024-01-02"]
        assert any("source 'platform': series 'urn:e:3.power': table 'readings_gone' does not exist" in f
                   for f in runs[-1].failures), runs[-1].failures
        assert stored.read_bytes() == before
        assert PASSWORD not in events_text(instance, runs[-1].run_id)


def test_the_api_answers_502_and_504_naming_the_source(tmp_path: Path, db: Database,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.api.conftest import start_api

    monkeypatch.setenv("DATAHUB_TEST_PG_DSN", db.dsn)
    text = CATALOG.replace("SOURCE", f"query: \"{SLOW}\"") + \
        "  - {entity: 'urn:e:4', attribute: power, source: gone, cadence: 10s}\n"
    text = text.replace("series:\n", "  gone: {kind: postgres, dsn: '${DATAHUB_TEST_PG_DSN}', "
                                     "table: nothing_here}\nseries:\n")
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    window = {"start_time": DAY2.isoformat(), "end_time": DAY3.isoformat(), "resolution": "1h", "method": "mean"}
    with dg.instance_for_test() as instance:
        api_gen = start_api(tmp_path, path, instance, request_timeout=1.0)
        api = next(api_gen)
        try:
            answer = api.client.post("/api/datahub/timeseries/align", json={
                "series": [{"entity_id": "urn:e:4", "attribute": "power"}], **window})
            assert answer.status_code == 502
            assert answer.json()["error"] == ("source 'gone': series 'urn:e:4.power': table 'nothing_here' does "
                                              "not exist")
            assert PASSWORD not in answer.text
            began = time.monotonic()
            answer = api.client.post("/api/datahub/timeseries/align", json={
                "series": [{"entity_id": "urn:e:3", "attribute": "power"}], **window})
            assert answer.status_code == 504 and time.monotonic() - began < 3
            assert answer.json()["error"] == "source 'platform': series 'urn:e:3.power': no answer within 1 s"
            assert PASSWORD not in answer.text
            assert wait_until_quiet(db), "the statement was cancelled on the server"
        finally:
            next(api_gen, None)


def test_a_client_leaving_cancels_the_statement_on_the_server(tmp_path: Path, db: Database,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.api.conftest import start_api

    monkeypatch.setenv("DATAHUB_TEST_PG_DSN", db.dsn)
    path = write(tmp_path, f"query: \"{SLOW}\"")
    with dg.instance_for_test() as instance:
        api_gen = start_api(tmp_path, path, instance, request_timeout=60.0)
        api = next(api_gen)
        try:
            body = json.dumps({
                "series": [{"entity_id": "urn:e:3", "attribute": "power"}], "start_time": DAY2.isoformat(),
                "end_time": DAY3.isoformat(), "resolution": "1h", "method": "mean"}).encode()
            host, port = api.url.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port)), timeout=5) as client:
                client.sendall(b"POST /api/datahub/timeseries/align HTTP/1.1\r\nHost: api\r\n"
                               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                               % (len(body), body))
                until = time.monotonic() + 15
                while not sleeping(db) and time.monotonic() < until:
                    time.sleep(0.05)
                assert sleeping(db), "the statement runs while the client waits"
            assert wait_until_quiet(db, 5.0), "and stops soon after the client left"
        finally:
            next(api_gen, None)
