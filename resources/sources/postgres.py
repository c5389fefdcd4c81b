"""`postgres`: readings from a PostgreSQL table (long or wide layout) or a query, read straight into Arrow.

- `table` (optionally `schema.table`) or `query` (a single SELECT or WITH ... SELECT taking the named
  parameters `:start`, `:end`, `:entity`, `:attribute`), never both. Names are quoted as written (so
  `Readings` and `readings` are different tables), values are always bound parameters: the query's `:name`
  placeholders become the driver's positional `$1`, `$2`, ... and nothing is ever formatted into SQL.
- `layout: long`: one row per reading, the series' rows picked by `entity_column` = its entity and
  `attribute_column` = its `column` (default: its attribute). `layout: wide`: one row per stamp; the series'
  `column` is the value column.
- Rows come back in `[start, end)`, ordered by the stamp, then by `order_by` (so "last wins" keeps the row
  with the greatest `order_by`); `timestamp without time zone` is taken as UTC (the session's time zone is
  UTC while reading), `timestamptz` converted to UTC, a `date` is midnight UTC; the value is cast to float8 and
  nulls are kept (the caller drops them).
- Reads go through ADBC (`adbc-driver-postgresql`): the result arrives as one Arrow table (see
  `bench/sources.py` for the measurement against psycopg). Each read runs in a read-only transaction whose
  `statement_timeout` is the source's `timeout`, cut to what is left of an API request's deadline; a request
  whose client goes away cancels its statement on the server.
- A small pool of connections per source (at most `POOL_SIZE` idle, each for at most `IDLE_SECONDS`), every
  connection opened with a connect timeout; `close()` (called on teardown) closes them.
- Errors name the source and the series, never the DSN or any part of it (the driver's connection messages
  quote host, user or options, so they are classified, never passed on).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import dagster as dg
import polars as pl
import pyarrow as pa
from pydantic import PrivateAttr

from resources import deadline
from resources.durations import parse_duration
from resources.sources.base import TS, TS_DTYPE, VALUE, EntryError, SeriesRef, Source, SourceError, SourceTimeout

log = logging.getLogger(__name__)

PARAMS = ("start", "end", "entity", "attribute")
LAYOUTS = ("long", "wide")
DISCOVERY_LIMIT = 10_000
CACHE_SECONDS = 60.0  # how long a table's columns and the discovered series are kept
POOL_SIZE = 2
IDLE_SECONDS = 60.0
APPLICATION_NAME = "datahub"
WATCH_SECONDS = 0.1  # how often a running statement looks whether its API request's client went away

NUMERIC = {"int2", "int4", "int8", "float4", "float8", "numeric"}
STAMPS = {"timestamp", "timestamptz", "date"}
TEXTS = {"text", "varchar", "bpchar", "name"}
KEYS = {"int2", "int4", "int8", "uuid"}  # key columns of other types: the bound text is cast to them
_IDENT = re.compile(r"^[^\x00-\x1f\x7f\"]{1,63}$")
_PASSWORD_KEYS = {"password"}

T = TypeVar("T")


class PostgresSource(Source):
    """Catalog keys: `dsn` (a libpq URL `postgresql://...`, normally `${VAR}`), `table` or `query`, `layout`
    (long | wide), `ts_column`, `entity_column`, `attribute_column`, `value_column`, `order_by`, `timeout`
    (each statement; `5m`) and `connect_timeout` (`10s`)."""

    dsn: str
    table: str | None = None
    query: str | None = None
    layout: str = "long"
    ts_column: str = "ts"
    entity_column: str = "entity_id"
    attribute_column: str = "attribute"
    value_column: str = "value"
    order_by: str | None = None
    timeout: str = "5m"
    connect_timeout: str = "10s"
    DURATIONS = ("timeout", "connect_timeout")

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _idle: list[tuple[Any, float]] = PrivateAttr(default_factory=list)
    _generation: int = PrivateAttr(default=0)
    _columns: tuple[float, dict[str, str]] | None = PrivateAttr(default=None)
    _discovered: tuple[float, list[SeriesRef]] | None = PrivateAttr(default=None)

    # -- the catalog side ----------------------------------------------------------------------------------

    @classmethod
    def check_entry(cls, values: Mapping[str, Any]) -> None:
        super().check_entry(values)
        dsn = values.get("dsn")
        if isinstance(dsn, str):
            problem = _dsn_problem(dsn)
            if problem:
                raise EntryError("dsn", problem)
        if values.get("forward_headers"):
            raise EntryError("forward_headers", "a postgres source sends no headers")
        table, query = values.get("table"), values.get("query")
        if (table is None) == (query is None):
            raise EntryError("query" if table is not None else "", "give exactly one of 'table' or 'query'")
        if values.get("layout", "long") not in LAYOUTS:
            raise EntryError("layout", f"must be one of {', '.join(LAYOUTS)}")
        if isinstance(table, str):
            parts = table.split(".")
            if len(parts) > 2 or not all(_IDENT.match(p) for p in parts):
                raise EntryError("table", "must be a table name or 'schema.table': at most 63 bytes a name, no "
                                          "double quotes or control characters")
        if isinstance(query, str):
            try:
                translate(query)
            except ValueError as exc:
                raise EntryError("query", str(exc)) from None
        for key in ("ts_column", "entity_column", "attribute_column", "value_column", "order_by"):
            name = values.get(key)
            if isinstance(name, str) and not _identifier(name):
                raise EntryError(key, "must be a column name: at most 63 bytes, no double quotes or control "
                                      "characters")
        for key, most in (("timeout", timedelta(hours=6)), ("connect_timeout", timedelta(minutes=5))):
            text = values.get(key)
            if isinstance(text, str) and not timedelta(0) < parse_duration(text) <= most:
                raise EntryError(key, f"must be positive and at most {_text(most)}")

    # -- the protocol --------------------------------------------------------------------------------------

    def read(
        self, series: SeriesRef, *, start: datetime, end: datetime, forwarded: Mapping[str, str] | None = None
    ) -> pl.DataFrame:
        who = f"source {self.name!r}: series {series.entity + '.' + series.attribute!r}"
        plan = self._plan(who)
        start, end = _utc(start), _utc(end)
        if not start < end:
            return _empty()

        def work(session: _Session) -> pa.Table:
            columns = self._describe(session, plan, who, series)
            sql, params = plan.select(series, start, end, columns, who)
            return session.fetch(sql, params, what=_What(who, plan, series))

        return _frame(self._with_session(plan, who, work), who)

    def entities(self) -> list[SeriesRef] | None:
        """The distinct (entity, attribute) pairs of a long table, at most DISCOVERY_LIMIT of them, kept for
        CACHE_SECONDS. A wide table or a query cannot tell its series' entities: None."""
        who = f"source {self.name!r}: discovery"
        plan = self._plan(who)
        if plan.table is None or plan.layout != "long":
            return None
        with self._lock:
            cached = self._discovered
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return list(cached[1])

        def work(session: _Session) -> pa.Table:
            columns = self._describe(session, plan, who, None)
            for key in ("entity_column", "attribute_column"):
                plan.need(columns, key, who)
            indexed = session.fetch(_INDEXED, [plan.relation, plan.entity, plan.attribute],
                                    what=_What(who, plan, None)).column(0)[0].as_py()
            return session.fetch(plan.distinct(bool(indexed)), [], what=_What(who, plan, None))

        found = self._with_session(plan, who, work)
        if found.num_rows > DISCOVERY_LIMIT:
            log.warning("%s: more than %d series; listing the first %d", who, DISCOVERY_LIMIT, DISCOVERY_LIMIT)
        refs = [SeriesRef(entity=e, attribute=a, column=a)
                for e, a in zip(found.column(0).to_pylist()[:DISCOVERY_LIMIT],
                                found.column(1).to_pylist()[:DISCOVERY_LIMIT], strict=True)]
        with self._lock:
            self._discovered = (time.monotonic(), refs)
        return list(refs)

    # -- lifecycle -----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the idle connections; those in use are closed when their read ends."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1
        for conn, _ in idle:
            _quietly(conn.close)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    # -- plan, columns, connections ------------------------------------------------------------------------

    def _plan(self, who: str) -> _Plan:
        """The entry checked as at load, now with `${VAR}` values known (a DSN from the environment may hold
        a password: there only its form is checked)."""
        dsn = _resolved(self.dsn)
        values = {**self.model_dump(), "dsn": None, "table": _resolved(self.table), "query": _resolved(self.query)}
        try:
            self.check_entry(values)
            if not dsn.startswith(("postgresql://", "postgres://")):
                raise EntryError("dsn", "must be a libpq URL, postgresql://user@host:port/database")
        except EntryError as exc:
            raise SourceError(f"{who}: '{exc.key}' {exc.reason}" if exc.key else f"{who}: {exc.reason}") from None
        values["dsn"] = dsn
        sql, names = translate(values["query"]) if values["query"] is not None else ("", [])
        return _Plan(
            dsn=values["dsn"], table=values["table"], query=sql, names=names, layout=self.layout,
            ts=self.ts_column, entity=self.entity_column, attribute=self.attribute_column,
            value=self.value_column, order_by=self.order_by,
            timeout=self.duration("timeout").total_seconds(),
            connect_timeout=self.duration("connect_timeout").total_seconds(),
        )

    def _describe(self, session: _Session, plan: _Plan, who: str, series: SeriesRef | None) -> dict[str, str]:
        """The columns the table or query gives (name -> PostgreSQL type), kept for CACHE_SECONDS."""
        with self._lock:
            cached = self._columns
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        if plan.table is not None:
            sql, params = f"SELECT * FROM {plan.relation}", []  # prepared and described, never run
        else:
            sql, params = plan.query, plan.inner_params(series, None, None)
        schema = session.describe(sql, params, what=_What(who, plan, series))
        columns = {f.name: _pg_type(f) for f in schema}
        with self._lock:
            self._columns = (time.monotonic(), columns)
        return columns

    def _with_session(self, plan: _Plan, who: str, work: Callable[[_Session], T]) -> T:
        """`work` on a pooled connection in a read-only transaction; a pooled connection found broken is
        replaced once by a new one."""
        for attempt in (1, 2):
            conn, pooled, generation = self._take(plan, who)
            session = _Session(conn, who, plan)
            healthy = False
            try:
                session.begin()
                result = work(session)
                session.end()
                healthy = True
                return result
            except _Broken:
                if pooled and attempt == 1:
                    log.info("%s: a pooled connection was broken; reconnecting", who)
                    continue
                raise SourceError(f"{who}: the connection to the database was lost", retryable=True) from None
            except SourceError:
                with self._lock:
                    self._columns = None  # the table may have changed: look again next time
                raise
            finally:
                self._give_back(conn, healthy, generation)
        raise AssertionError("unreachable")

    def _take(self, plan: _Plan, who: str) -> tuple[Any, bool, int]:
        """A connection (pooled or new), whether it was pooled, and the pool's generation it belongs to."""
        now = time.monotonic()
        stale = []
        conn = None
        with self._lock:
            generation = self._generation
            while self._idle:
                candidate, since = self._idle.pop()
                if now - since > IDLE_SECONDS:
                    stale.append(candidate)
                else:
                    conn = candidate
                    break
        for old in stale:
            _quietly(old.close)
        if conn is not None:
            return conn, True, generation
        return _connect(plan, who), False, generation

    def _give_back(self, conn: Any, healthy: bool, generation: int) -> None:
        """Back into the pool when it worked, there is room, and no close() came in between; else closed."""
        if healthy:
            with self._lock:
                if len(self._idle) < POOL_SIZE and generation == self._generation:
                    self._idle.append((conn, time.monotonic()))
                    return
        _quietly(conn.close)


# -- the plan: SQL built from quoted names and bound parameters ---------------------------------------------


@dataclass(frozen=True)
class _Plan:
    dsn: str
    table: str | None
    query: str
    names: list[str]
    layout: str
    ts: str
    entity: str
    attribute: str
    value: str
    order_by: str | None
    timeout: float
    connect_timeout: float

    @property
    def relation(self) -> str:
        assert self.table is not None
        return ".".join(quote(p) for p in self.table.split("."))

    def need(self, columns: dict[str, str], key: str, who: str, name: str | None = None) -> str:
        """The type of a column the read needs; SourceError naming it when the table or query lacks it."""
        name = name if name is not None else getattr(self, _FIELD[key])
        if name not in columns:
            where = f"table {self.table!r}" if self.table is not None else "the query's result"
            raise SourceError(f"{who}: {where} has no column {name!r} ({_role(key)})")
        return columns[name]

    def value_name(self, series: SeriesRef) -> tuple[str, str]:
        return (self.value, "value_column") if self.layout == "long" else (series.column, "column")

    def inner_params(self, series: SeriesRef | None, start: datetime | None, end: datetime | None) -> list[Any]:
        far = datetime(1970, 1, 1, tzinfo=UTC)
        values = {"start": start or far, "end": end or far, "entity": series.entity if series else "",
                  "attribute": series.column if series else ""}
        return [values[n] for n in self.names]

    def select(self, series: SeriesRef, start: datetime, end: datetime, columns: dict[str, str],
               who: str) -> tuple[str, list[Any]]:
        value, value_key = self.value_name(series)
        ts_type = self.need(columns, "ts_column", who)
        if ts_type not in STAMPS:
            raise SourceError(f"{who}: column {self.ts!r} (ts_column) is {ts_type}, not a timestamp")
        value_type = self.need(columns, value_key, who, value)
        if value_type not in NUMERIC:
            raise SourceError(f"{who}: column {value!r} ({_role(value_key)}) is {value_type}, not a number")
        if self.order_by is not None:
            self.need(columns, "order_by", who)
        ts, out_value = quote(self.ts), f"{quote(value)}::float8"
        order = f"{ts}, {quote(self.order_by)}" if self.order_by else ts
        if self.table is None:
            params = self.inner_params(series, start, end)
            slots = {n: f"${i}" for i, n in enumerate(self.names, start=1)}
            for name, moment in (("start", start), ("end", end)):
                if name not in slots:
                    params.append(moment)
                    slots[name] = f"${len(params)}"
            sql = (f"SELECT {ts} AS \"ts\", {out_value} AS \"value\" FROM (\n{self.query}\n) AS \"q\"\n"
                   f"WHERE {ts} >= {slots['start']} AND {ts} < {slots['end']} ORDER BY {order}")
            return sql, params
        where = f"{ts} >= $1 AND {ts} < $2"
        params = [start, end]
        if self.layout == "long":
            keys = []
            for key, wanted in (("entity_column", series.entity), ("attribute_column", series.column)):
                kind = self.need(columns, key, who)
                if kind not in TEXTS | KEYS:
                    raise SourceError(f"{who}: column {getattr(self, _FIELD[key])!r} ({_role(key)}) is {kind}; "
                                      f"text, an integer or a uuid expected")
                params.append(wanted)
                slot = f"${len(params)}" if kind in TEXTS else f"CAST(${len(params)} AS {kind})"
                keys.append(f"{quote(getattr(self, _FIELD[key]))} = {slot}")
            where = " AND ".join([*keys, where])
        sql = f"SELECT {ts} AS \"ts\", {out_value} AS \"value\" FROM {self.relation} WHERE {where} ORDER BY {order}"
        return sql, params

    def distinct(self, indexed: bool) -> str:
        """The distinct (entity, attribute) pairs as text: a skip scan along an index on the two columns
        (one index probe per pair), else one DISTINCT over the table."""
        e, a, table, limit = quote(self.entity), quote(self.attribute), self.relation, DISCOVERY_LIMIT + 1
        if not indexed:
            return (f"SELECT \"e\"::text, \"a\"::text FROM (SELECT DISTINCT {e} AS \"e\", {a} AS \"a\" FROM {table} "
                    f"WHERE {e} IS NOT NULL AND {a} IS NOT NULL ORDER BY 1, 2 LIMIT {limit}) AS \"d\"")
        return (
            f"WITH RECURSIVE \"d\"(\"e\", \"a\") AS ((SELECT {e}, {a} FROM {table} WHERE {e} IS NOT NULL AND "
            f"{a} IS NOT NULL ORDER BY {e}, {a} LIMIT 1) UNION ALL SELECT \"n\".\"e\", \"n\".\"a\" FROM \"d\", "
            f"LATERAL (SELECT {e} AS \"e\", {a} AS \"a\" FROM {table} WHERE ({e}, {a}) > (\"d\".\"e\", \"d\".\"a\") "
            f"AND {a} IS NOT NULL ORDER BY {e}, {a} LIMIT 1) AS \"n\") "
            f"SELECT \"e\"::text, \"a\"::text FROM \"d\" LIMIT {limit}"
        )


_FIELD = {"ts_column": "ts", "entity_column": "entity", "attribute_column": "attribute",
          "value_column": "value", "order_by": "order_by"}

# Is there a valid, unconditional btree index leading with (entity column, attribute column)?
_INDEXED = (
    "SELECT EXISTS (SELECT 1 FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am m ON m.oid = c.relam AND m.amname = 'btree' "
    "JOIN pg_attribute e ON e.attrelid = i.indrelid AND e.attnum = i.indkey[0] "
    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[1] "
    "WHERE i.indrelid = to_regclass($1) AND e.attname = $2 AND a.attname = $3 "
    "AND i.indisvalid AND i.indpred IS NULL)"
)


def _role(key: str) -> str:
    return "the series' column" if key == "column" else key


def quote(name: str) -> str:
    """A quoted SQL identifier (names never hold a double quote: the catalog refuses them)."""
    if not _identifier(name):
        raise SourceError(f"not a valid column or table name: {name[:64]!r}")
    return f'"{name}"'


def _identifier(name: str) -> bool:
    return bool(_IDENT.match(name)) and len(name.encode()) <= 63


# -- the query: named parameters to positional ones ---------------------------------------------------------

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def translate(query: str) -> tuple[str, list[str]]:
    """`(sql, names)`: the query with each `:name` replaced by `$n` (n: the order in which the distinct
    names first appear), and those names. Strings, quoted names, dollar quotes and comments are skipped, and
    `::` is a cast; one trailing `;` is dropped. ValueError when the query is not one SELECT (or WITH)
    statement, uses an unknown parameter or a positional `$n`."""
    out: list[str] = []
    names: list[str] = []
    first_word: str | None = None
    ended = False  # a `;` was seen: only blanks and comments may follow
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        nxt = query[i + 1] if i + 1 < n else ""
        if ch == "-" and nxt == "-":
            j = query.find("\n", i)
            i = n if j < 0 else j
            out.append(" ")
            continue
        if ch == "/" and nxt == "*":
            i = _comment_end(query, i)
            out.append(" ")
            continue
        if ch.isspace():
            out.append(ch)
            i += 1
            continue
        if ended:
            raise ValueError("must be one statement (nothing after ';')")
        if ch == ";":
            ended = True
            i += 1
            continue
        if first_word is None and ch != "(":
            word = _WORD.match(query, i)
            first_word = word.group(0).lower() if word else ch
        if ch in "'\"":
            escapes = ch == "'" and i > 0 and query[i - 1] in "eE" and (i < 2 or not _word_char(query[i - 2]))
            j = _closing(query, i, ch, escapes)
        elif ch == "$" and (i == 0 or not _word_char(query[i - 1])):
            if nxt.isdigit():
                raise ValueError("takes named parameters (:start, :end, :entity, :attribute), not $1, $2, ...")
            tag = _DOLLAR_TAG.match(query, i)
            if tag is None:
                j = i + 1
            else:
                close = query.find(tag.group(0), tag.end())
                if close < 0:
                    raise ValueError("has an unterminated dollar-quoted string")
                j = close + len(tag.group(0))
        elif ch == ":" and nxt == ":":
            j = i + 2
        elif ch == ":" and (match := _WORD.match(query, i + 1)) is not None:
            name = match.group(0)
            if name not in PARAMS:
                raise ValueError(f"uses an unknown parameter :{name}; known: "
                                 f"{', '.join(':' + p for p in PARAMS)}")
            if name not in names:
                names.append(name)
            out.append(f"${names.index(name) + 1}")
            i = match.end()
            continue
        elif (word := _WORD.match(query, i)) is not None:
            j = word.end()
        else:
            j = i + 1
        out.append(query[i:j])
        i = j
    if first_word not in ("select", "with"):
        raise ValueError("must be a single SELECT (or WITH ... SELECT) statement")
    return "".join(out).strip(), names


def _comment_end(query: str, i: int) -> int:
    """The index after the (nested) block comment opening at `i`."""
    j, depth = i + 2, 1
    while depth and j < len(query):
        if query.startswith("/*", j):
            depth, j = depth + 1, j + 2
        elif query.startswith("*/", j):
            depth, j = depth - 1, j + 2
        else:
            j += 1
    if depth:
        raise ValueError("has an unterminated /* comment")
    return j


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def _closing(query: str, i: int, quote_char: str, escapes: bool) -> int:
    """The index after the literal or quoted name opening at `i` (a doubled quote stays inside)."""
    j = i + 1
    while j < len(query):
        ch = query[j]
        if escapes and ch == "\\":
            j += 2
            continue
        if ch == quote_char:
            if j + 1 < len(query) and query[j + 1] == quote_char:
                j += 2
                continue
            return j + 1
        j += 1
    kind = "string" if quote_char == "'" else "quoted name"
    raise ValueError(f"has an unterminated {kind}")


# -- connections and statements -----------------------------------------------------------------------------


class _Broken(Exception):
    """The connection failed under a statement (the server closed it, the network went away)."""


@dataclass(frozen=True)
class _What:
    """What a statement is for, to name in its errors."""

    who: str
    plan: _Plan
    series: SeriesRef | None


def _connect(plan: _Plan, who: str) -> Any:
    import adbc_driver_postgresql.dbapi as adbc

    limit = deadline.current()
    if limit.done():
        raise SourceTimeout(f"{who}: {deadline.DeadlineExceeded(limit.seconds, limit.cancelled)}",
                            cancelled=limit.cancelled)
    seconds = max(2, math.ceil(limit.bound(plan.connect_timeout)))  # libpq's least connect timeout is 2 s
    try:
        return adbc.connect(_uri(plan.dsn, seconds))
    except adbc.Error as exc:
        reason, retryable = _connect_failure(str(exc))
        raise SourceError(f"{who}: cannot connect to the database: {reason}", retryable=retryable) from None


def _uri(dsn: str, connect_timeout: int) -> str:
    """The DSN with the connect timeout (ours wins) and, unless it names one, our application name."""
    given = {k for k, _ in parse_qsl(urlsplit(dsn).query, keep_blank_values=True)}
    extra = {"connect_timeout": str(connect_timeout)}
    if "application_name" not in given:
        extra["application_name"] = APPLICATION_NAME
    return f"{dsn}{'&' if '?' in dsn else '?'}{urlencode(extra)}"


_CONNECT_FAILURES = [  # (what the driver's message holds, what we say, retryable)
    ("connection refused", "connection refused", True),
    ("timeout expired", "no answer within the connect timeout", True),
    ("could not translate host name", "the host name does not resolve", True),
    ("password authentication failed", "authentication failed", False),
    ("authentication failed", "authentication failed", False),
    ("no pg_hba.conf entry", "the server does not admit this client", False),
    ("role \"", "authentication failed", False),
    ("database \"", "the database does not exist", False),
    ("the database system is starting up", "the server is starting up", True),
    ("the database system is shutting down", "the server is shutting down", True),
    ("too many", "the server has too many connections", True),
    ("invalid response to ssl", "the SSL negotiation failed", False),
    ("invalid", "the dsn is not a valid libpq URL", False),
    ("missing \"=\"", "the dsn is not a valid libpq URL", False),
    ("ssl", "the SSL negotiation failed", False),
]


def _connect_failure(message: str) -> tuple[str, bool]:
    """What a connection failure was, from the driver's message, which is never passed on: it quotes the
    host, the user, the database or an option of the DSN."""
    text = message.lower()
    for needle, reason, retryable in _CONNECT_FAILURES:
        if needle in text:
            return reason, retryable
    return "the driver's message is withheld (it may quote the dsn)", True


class _Session:
    """One connection's read-only transaction: settings first, statements bounded by the deadline."""

    def __init__(self, conn: Any, who: str, plan: _Plan) -> None:
        self.conn, self.who, self.plan = conn, who, plan
        self.limit = deadline.current()
        self.by_deadline = False

    def begin(self) -> None:
        budget = self.plan.timeout
        left = self.limit.remaining()
        if left is not None and left < budget:
            budget, self.by_deadline = left, True
        if self.limit.done() or budget <= 0:
            raise self._timeout()
        ms = max(1, math.floor(budget * 1000))
        self.fetch("SELECT set_config('statement_timeout', $1, true), set_config('TimeZone', 'UTC', true), "
                   "set_config('transaction_read_only', 'on', true)", [str(ms)], what=None)

    def end(self) -> None:
        try:
            self.conn.rollback()
        except Exception:
            raise _Broken() from None

    def describe(self, sql: str, params: list[Any], *, what: _What | None) -> pa.Schema:
        return self._run(lambda cur: cur.adbc_execute_schema(sql, params or None), what)

    def fetch(self, sql: str, params: list[Any], *, what: _What | None) -> pa.Table:
        def run(cur: Any) -> pa.Table:
            cur.execute(sql, params or None)
            return cur.fetch_arrow_table()

        return self._run(run, what)

    def _run(self, step: Callable[[Any], T], what: _What | None) -> T:
        import adbc_driver_manager

        with self.conn.cursor() as cur, self._watch():
            try:
                return step(cur)
            except adbc_driver_manager.Error as exc:
                raise self._failure(exc, what) from None

    @contextmanager
    def _watch(self) -> Iterator[None]:
        """While a statement runs inside an API request, cancel it on the server once the client goes away."""
        if self.limit.remaining() is None:
            yield
            return
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(WATCH_SECONDS):
                if self.limit.cancelled:
                    _quietly(self.conn.adbc_cancel)
                    return

        watcher = threading.Thread(target=watch, name="postgres-cancel", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()

    def _timeout(self) -> SourceTimeout:
        return SourceTimeout(f"{self.who}: {deadline.DeadlineExceeded(self.limit.seconds, self.limit.cancelled)}",
                             cancelled=self.limit.cancelled)

    def _failure(self, exc: Any, what: _What | None) -> Exception:
        state = getattr(exc, "sqlstate", None) or ""
        primary = _primary(str(exc))
        if state == "57014":  # canceled: our statement_timeout, or the client went away
            if self.limit.cancelled or self.by_deadline:
                return self._timeout()
            return SourceError(f"{self.who}: the query ran longer than its 'timeout' ({_text(self.plan.timeout)})",
                               retryable=True)
        if not state or state.startswith("08") or state in ("57P01", "57P02", "57P03"):
            return _Broken()
        if what is None:
            return SourceError(f"{self.who}: the database refused the session settings (SQLSTATE {state})")
        plan = what.plan
        if plan.table is not None:
            if state in ("42P01", "3F000"):
                return SourceError(f"{self.who}: table {plan.table!r} does not exist")
            if state == "42501":
                return SourceError(f"{self.who}: the dsn's role may not read table {plan.table!r}")
            if state == "22P02" and what.series is not None:
                return SourceError(f"{self.who}: the series' entity or column does not fit the type of "
                                   f"entity_column or attribute_column")
            return SourceError(f"{self.who}: reading table {plan.table!r} failed (SQLSTATE {state}: {primary})",
                               retryable=state.startswith(("40", "53", "55")))
        return SourceError(f"{self.who}: the query failed (SQLSTATE {state}: {primary})",
                           retryable=state.startswith(("40", "53", "55")))


_ERROR_LINE = re.compile(r"ERROR:\s+([^\n]*)")


def _primary(message: str) -> str:
    """The server's one-line error message out of the driver's (which also quotes the whole statement)."""
    match = _ERROR_LINE.search(message)
    text = match.group(1).strip() if match else "no message"
    return text.removesuffix(".")[:200]


def _pg_type(field: pa.Field) -> str:
    meta = field.metadata or {}
    named = meta.get(b"POSTGRESQL:type") or meta.get(b"ADBC:postgresql:typname")
    if named:
        return str(named.decode())
    kind = field.type
    if pa.types.is_timestamp(kind):
        return "timestamptz" if kind.tz else "timestamp"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_floating(kind):
        return "float8"
    if pa.types.is_integer(kind):
        return "int8"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "text"
    return str(kind)


# -- the frame ----------------------------------------------------------------------------------------------


def _frame(table: pa.Table, who: str) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    ts = pl.col(TS)
    dtype = frame.schema[TS]
    if dtype == pl.Date:
        ts = ts.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    elif isinstance(dtype, pl.Datetime):
        ts = ts.dt.replace_time_zone("UTC") if dtype.time_zone is None else ts.dt.convert_time_zone("UTC")
    else:
        raise SourceError(f"{who}: the stamps arrived as {dtype}, not as timestamps")
    return frame.select(ts.dt.cast_time_unit("us").cast(TS_DTYPE).alias(TS), pl.col(VALUE).cast(pl.Float64))


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={TS: TS_DTYPE, VALUE: pl.Float64()})


# -- helpers ------------------------------------------------------------------------------------------------


def _dsn_problem(dsn: str) -> str | None:
    """Why a DSN cannot be used (never quoting it); None when it can."""
    try:
        parts = urlsplit(dsn)
        password = parts.password
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
    except ValueError:
        return "is not a valid libpq URL"
    if parts.scheme not in ("postgresql", "postgres"):
        return "must be a libpq URL, postgresql://user@host:port/database"
    if password or _PASSWORD_KEYS & set(query):
        return "holds a password: write the dsn as ${VAR} (shown by name, never by value)"
    return None


def _resolved(value: Any) -> Any:
    """A `dg.EnvVar` left unresolved (the resource used without `dg.build_resources`) read from the environment."""
    return (value.get_value() or "") if isinstance(value, dg.EnvVar) else value


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _text(seconds: float | timedelta) -> str:
    from resources.durations import format_duration

    return format_duration(seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds))


def _quietly(action: Callable[[], Any]) -> None:
    with contextlib.suppress(Exception):  # closing or cancelling a connection that is already gone
        action()
