"""`ngsi_ld`: readings from the temporal API of an NGSI-LD broker (ETSI GS CIM 009), and entity discovery.

A series' `entity` is the NGSI-LD entity id, its `column` (default: the attribute) the temporal property. One
read is one window `[start, end)`, the spec's "Retrieve Temporal Evolution of an Entity" (clause 5.7.3):

    GET <url>/ngsi-ld/v1/temporal/entities/<entity id>?attrs=<property>&timerel=between
        &timeAt=<start>&endTimeAt=<end>&options=temporalValues

The entity id is percent-encoded as one path segment and every query value as one value, so neither can add a
segment, a parameter or a host. Headers: `Accept: application/json`, `NGSILD-Tenant` when `ngsild_tenant` is
set, the JSON-LD `@context` as `Link: <context>; rel="http://www.w3.org/ns/json-ld#context";
type="application/ld+json"` when `context` is set, then the static `headers` and the caller's headers
`forward_headers` opts in (these win).

Both temporal representations are read: the normalized one, where the property is a list of instances
`{"type": "Property", "value": v, "observedAt": t}` (or one such object), and the simplified one
(`options=temporalValues`), where it is `{"type": "Property", "values": [[v, t], ...]}` (or a list of those,
one per datasetId). The simplified one is asked for by default (smaller); `temporal_values: false` asks for
the normalized one. A value is a JSON number, a string holding one, `{"@value": ...}` around one, or null /
`"urn:ngsi-ld:null"` (a deleted instance): null. A property the entity does not have is no readings, not an
error; anything else unexpected is an error naming the source and the series.

Temporal pagination (clause 6.3.10, the `Content-Range` header; as FIWARE Mintaka's TemporalApiController and
Stellio's TemporalApiResponses answer, stellio-context-broker#687): a broker holding more instances than it
answers at once replies `206 Partial Content` with `Content-Range: date-time <range start>-<range end>/<size
or *>`, where, paging forwards, the range end is the last instance it returned. The next request asks again
from just past the range end (`timeAt` = range end + 1 us, `endTimeAt` unchanged), until a `200` or a range
reaching the window's end, so no instance is asked for twice. Range stamps are read as ISO-8601 (with or
without offset; naive is UTC) or as HTTP dates (both are sent by brokers in the wild). `lastN` is a filter
that pages backwards from the most recent instance: it is never sent, and never used as a page size. The
single-entity temporal retrieval has no page-size parameter in the spec (`limit`/`pageSize` count entities,
in queries): the broker picks the page size and 206 announces it.

Discovery (`entities()`): with `types` set, "Query Entities" (clause 5.7.2) with its pagination (clause
5.5.9): `GET <url>/ngsi-ld/v1/entities?type=<t1>,<t2>&limit=<page_size>&offset=<n>`, page after page until a
short page, at most `MAX_ENTITIES`; every attribute that is a `Property` holding a number becomes a
SeriesRef(entity id, attribute, attribute). Cached for `ENTITIES_TTL` seconds; without `types` the source
cannot tell (None).

Tenant: `ngsild_tenant` (optional) is sent as `NGSILD-Tenant`; unset, no header is sent and the broker's
default tenant answers. It is deliberately not the DataHub tenant that owns the source (`tenant:`): DataHub's
tenants are a namespace of their own (`default` is no broker tenant), the owner is not handed to a kind, and a
broker answers a read on a tenant it does not know with an error (Orion-LD: "NonExistingTenant",
FIWARE/context.Orion-LD#1228).

Retries with backoff and jitter, `Retry-After`, the rate limit, the same-origin rule, the API request's deadline
and URL redaction are the shared transport's (`transport.py`). Errors name the source, the series (or entity
discovery) and the page; never a URL, a query, a header value or another configuration value.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import dagster as dg
import httpx
import polars as pl
from pydantic import PrivateAttr

from resources.durations import parse_duration
from resources.sources.base import (
    TS,
    TS_DTYPE,
    VALUE,
    EntryError,
    SeriesRef,
    Source,
    SourceError,
    SourceTimeout,
    in_window,
)
from resources.sources.transport import DEFAULT_PORTS, Transport

log = logging.getLogger(__name__)

API_PREFIX = "/ngsi-ld/v1"
JSONLD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
NULL_VALUE = "urn:ngsi-ld:null"  # how the temporal representation writes a deleted instance's value
TIME_PROPERTY = "observedAt"
MAX_PAGES = 10_000
MAX_PAGE_SIZE = 10_000
MAX_ENTITIES = 10_000
ENTITIES_TTL = 60.0
STEP = timedelta(microseconds=1)  # how far past a page's range end the next page starts
# Members of an entity that are not its attributes.
CORE_MEMBERS = frozenset({"id", "type", "@context", "scope", "createdAt", "modifiedAt", "deletedAt",
                          "location", "observationSpace", "operationSpace"})
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_RANGE = re.compile(r"^\s*date-time\s+(?P<range>.+?)\s*/\s*(?P<size>[^/\s]+)\s*$", re.IGNORECASE)
_TOKEN = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no space: a tenant or a type name
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class NgsiLdSource(Source):
    """An NGSI-LD broker's temporal API (the module says what is asked and read).

    `url`, `ngsild_tenant`, `context` and `headers` values may be `dg.EnvVar`s (resolved by Dagster, shown by
    name). Of a request's `forwarded` headers only those named in `forward_headers` (case-insensitive) are
    sent; they win over a static header of the same name.
    """

    url: str
    ngsild_tenant: str | None = None
    context: str | None = None
    page_size: int = 1000
    types: list[str] = []
    temporal_values: bool = True
    headers: dict[str, str] = {}
    timeout: str = "30s"
    retries: int = 5
    rate_limit: float | None = None
    DURATIONS = ("timeout",)

    _transport: Transport | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _discovery: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _found: tuple[float, list[SeriesRef]] | None = PrivateAttr(default=None)

    # -- the protocol ------------------------------------------------------------------------------------

    def read(
        self, series: SeriesRef, *, start: datetime, end: datetime, forwarded: Mapping[str, str] | None = None
    ) -> pl.DataFrame:
        start, end = _utc(start), _utc(end)
        self._check_config()
        headers = self._headers(forwarded)
        stamps: list[int] = []
        values: list[float | None] = []
        for page_stamps, page_values in self._pages(series, start, end, headers):
            stamps.extend(page_stamps)
            values.extend(page_values)
        frame = pl.DataFrame(
            {TS: pl.Series(stamps, dtype=pl.Int64).cast(TS_DTYPE), VALUE: pl.Series(values, dtype=pl.Float64)}
        )
        return in_window(frame, start, end)

    def entities(self) -> list[SeriesRef] | None:
        """The numeric properties of the entities of `types` (None without `types`), cached briefly."""
        if not self.types:
            return None
        with self._discovery:  # one listing at a time; the others use its result
            found = self._found
            if found is not None and time.monotonic() - found[0] < ENTITIES_TTL:
                return list(found[1])
            self._check_config()
            listed = self._discover(self._headers(None))
            self._found = (time.monotonic(), listed)
            return list(listed)

    # -- lifecycle ---------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the pooled connections (a later `read` opens new ones)."""
        with self._lock:
            transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    def _http(self) -> Transport:
        with self._lock:
            if self._transport is None:
                self._transport = Transport(self.name, timeout=self.duration("timeout").total_seconds(),
                                            retries=self.retries, rate_limit=self.rate_limit)
            return self._transport

    # -- the catalog side --------------------------------------------------------------------------------

    @classmethod
    def check_entry(cls, values: Mapping[str, Any]) -> None:
        super().check_entry(values)
        page_size = values.get("page_size", 1000)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise EntryError("page_size", f"must be between 1 and {MAX_PAGE_SIZE}")
        if values.get("rate_limit") is not None and values["rate_limit"] <= 0:
            raise EntryError("rate_limit", "must be positive")
        if not 0 <= values.get("retries", 5) <= 20:
            raise EntryError("retries", "must be between 0 and 20")
        if isinstance(values.get("timeout"), str) and parse_duration(values["timeout"]) > timedelta(minutes=10):
            raise EntryError("timeout", "must be at most 10m")
        tenant = values.get("ngsild_tenant")
        if isinstance(tenant, str) and not _TOKEN.match(tenant):
            raise EntryError("ngsild_tenant", "must be 1 to 128 printable ASCII characters without spaces")
        for i, name in enumerate(values.get("types") or []):
            if isinstance(name, str) and (not _TOKEN.match(name) or "," in name):
                raise EntryError("types", f"entry {i + 1} must be a type name or URI without spaces or commas")
        url = values.get("url")
        if isinstance(url, str):  # `${VAR}`: known only when the source is read
            parts = urlsplit(url)
            if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
                raise EntryError("url", "must be an absolute http or https URL (the broker's base URL)")
            if parts.query or parts.fragment or "{" in url:
                raise EntryError("url", "is the broker's base URL: no query, fragment or placeholder")
        context = values.get("context")
        if isinstance(context, str):
            parts = urlsplit(context)
            if parts.scheme not in DEFAULT_PORTS or not parts.hostname or re.search(r'[\s<>"]', context):
                raise EntryError("context", "must be an absolute http or https URL of a JSON-LD @context")

    def _check_config(self) -> None:
        resolved = {**self.model_dump(), "url": _resolved(self.url),
                    "ngsild_tenant": _resolved(self.ngsild_tenant), "context": _resolved(self.context)}
        try:
            self.check_entry(resolved)
        except EntryError as exc:
            raise SourceError(f"source {self.name!r}: '{exc.key}' {exc.reason}") from None

    # -- requests ----------------------------------------------------------------------------------------

    def _base(self) -> str:
        base = (_resolved(self.url) or "").rstrip("/")
        return base[: -len(API_PREFIX)] if base.endswith(API_PREFIX) else base

    def _headers(self, forwarded: Mapping[str, str] | None) -> dict[str, str]:
        out: dict[str, str] = {"Accept": "application/json"}
        tenant = _resolved(self.ngsild_tenant)
        if tenant:
            out["NGSILD-Tenant"] = tenant
        context = _resolved(self.context)
        if context:
            out["Link"] = f'<{context}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"'
        for name, value in [*self.headers.items(), *self.forwarded_for(forwarded).items()]:
            for existing in [k for k in out if k.lower() == name.lower()]:
                del out[existing]
            out[name] = _resolved(value) or ""
        return out

    def _temporal_url(self, series: SeriesRef, time_at: datetime, end: datetime) -> str:
        query = [("attrs", series.column), ("timerel", "between"), ("timeAt", _iso(time_at)),
                 ("endTimeAt", _iso(end))]
        if self.temporal_values:
            query.append(("options", "temporalValues"))
        path = f"{self._base()}{API_PREFIX}/temporal/entities/{_segment(series.entity)}"
        return path + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query)

    def _pages(self, series: SeriesRef, start: datetime, end: datetime, headers: dict[str, str]
               ) -> Iterator[tuple[list[int], list[float | None]]]:
        """Each page's (stamps in us, values), asking again past each 206's range end."""
        transport = self._http()
        label = f"series {series.entity + '.' + series.attribute!r}"
        time_at = start
        for page in range(1, MAX_PAGES + 1):
            try:
                response = transport.get(self._temporal_url(series, time_at, end), headers, page)
            except SourceError as exc:
                raise _named(exc, self.name, label) from None
            where = f"source {self.name!r}: {label}: page {page}"
            yield _instances(_json(response, where), series.column, where)
            if response.status_code != 206:
                return
            last = content_range_end(response.headers.get("Content-Range"))
            if last is None:
                raise SourceError(f"{where}: 206 Partial Content without a readable 'Content-Range: date-time "
                                  "<start>-<end>/<size>' header")
            following = last + STEP
            if following <= time_at:
                raise SourceError(f"{where}: the Content-Range of a 206 does not move forward; stopped")
            if following >= end:
                return
            time_at = following
        raise SourceError(f"source {self.name!r}: {label}: more than {MAX_PAGES} pages; stopped")

    def _discover(self, headers: dict[str, str]) -> list[SeriesRef]:
        transport = self._http()
        types = ",".join(quote(t, safe="") for t in self.types)
        found: dict[tuple[str, str], SeriesRef] = {}
        listed = 0
        for page in range(1, MAX_PAGES + 1):
            url = (f"{self._base()}{API_PREFIX}/entities?type={types}&limit={self.page_size}"
                   f"&offset={listed}")
            try:
                response = transport.get(url, headers, page)
            except SourceError as exc:
                raise _named(exc, self.name, "entity discovery") from None
            where = f"source {self.name!r}: entity discovery: page {page}"
            body = _json(response, where)
            entities = [] if body is _EMPTY else body
            if not isinstance(entities, list):
                raise SourceError(f"{where}: the response is not a list of entities")
            for i, entity in enumerate(entities, start=1):
                if not isinstance(entity, dict) or not isinstance(entity.get("id"), str):
                    raise SourceError(f"{where}: entity {i} is not an entity with an id")
                for attribute, member in entity.items():
                    if attribute not in CORE_MEMBERS and _numeric_property(member):
                        found.setdefault((entity["id"], attribute),
                                         SeriesRef(entity["id"], attribute, attribute))
            listed += len(entities)
            if listed > MAX_ENTITIES:
                raise SourceError(f"{where}: more than {MAX_ENTITIES} entities of the listed types; "
                                  "list fewer types")
            if len(entities) < self.page_size:
                return list(found.values())
        raise SourceError(f"source {self.name!r}: entity discovery: more than {MAX_PAGES} pages; stopped")


# -- parsing ----------------------------------------------------------------------------------------------

_EMPTY: Any = object()


def _json(response: httpx.Response, where: str) -> Any:
    if response.status_code == 204 or not response.content.strip():
        return _EMPTY
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        raise SourceError(f"{where}: the response is not valid JSON") from None


def _instances(body: Any, attribute: str, where: str) -> tuple[list[int], list[float | None]]:
    """The (stamps, values) of one attribute in an entity's temporal representation, either shape."""
    if body is _EMPTY:
        return [], []
    if not isinstance(body, dict):
        raise SourceError(f"{where}: the response is not an entity (a JSON object)")
    member = body.get(attribute)
    if member is None:  # the entity has no such property, or none in the window
        return [], []
    items = member if isinstance(member, list) else [member]
    stamps: list[int] = []
    values: list[float | None] = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise SourceError(f"{where}: instance {i} of {attribute!r} is not an object")
        if "values" in item:  # simplified: {"type": "Property", "values": [[v, t], ...]}
            pairs = item["values"]
            if not isinstance(pairs, list):
                raise SourceError(f"{where}: the 'values' of {attribute!r} are not a list")
            for j, pair in enumerate(pairs, start=1):
                if not isinstance(pair, list) or len(pair) < 2:
                    raise SourceError(f"{where}: value {j} of {attribute!r} is not a [value, time] pair")
                stamps.append(_stamp(pair[1], f"{where}: value {j} of {attribute!r}"))
                values.append(_number(pair[0], f"{where}: value {j} of {attribute!r}"))
        else:  # normalized: {"type": "Property", "value": v, "observedAt": t}
            what = f"{where}: instance {i} of {attribute!r}"
            if "value" not in item:
                raise SourceError(f"{what} has no 'value' (a Property is expected)")
            stamps.append(_stamp(item.get(TIME_PROPERTY), what))
            values.append(_number(item["value"], what))
    return stamps, values


def _number(raw: Any, what: str) -> float | None:
    if isinstance(raw, dict) and "@value" in raw:
        raw = raw["@value"]
    if raw is None or raw == NULL_VALUE:
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str) and _NUMBER.match(raw.strip()):
        return float(raw)
    raise SourceError(f"{what}: the value is not a number")


def _stamp(raw: Any, what: str) -> int:
    moment = _moment(raw) if isinstance(raw, str) else None
    if moment is None:
        raise SourceError(f"{what} has no valid '{TIME_PROPERTY}' (ISO-8601 expected)")
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _moment(text: str) -> datetime | None:
    """An ISO-8601 stamp (naive: UTC) or an HTTP date; None for anything else."""
    text = text.strip()
    if not text:
        return None
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        pass
    if not text[:1].isalpha():  # HTTP dates start with the day's name
        return None
    try:
        return _utc(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        return None


def content_range_end(header: str | None) -> datetime | None:
    """The range end of `Content-Range: date-time <start>-<end>/<size>` (None when unreadable).

    The stamps hold '-' themselves, so the range is split at the first '-' that leaves a stamp on each side."""
    match = _RANGE.match(header or "")
    if match is None:
        return None
    text = match["range"]
    for i, char in enumerate(text):
        if char == "-" and _moment(text[:i]) is not None:
            last = _moment(text[i + 1:])
            if last is not None:
                return last
    return None


def _numeric_property(member: Any) -> bool:
    """An attribute that can be a series: a Property (or several, by datasetId) holding a number."""
    items = member if isinstance(member, list) else [member]
    for item in items:
        if isinstance(item, dict) and item.get("type") == "Property":
            value = item.get("value")
            if isinstance(value, dict):
                value = value.get("@value")
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                return True
    return False


def _named(exc: SourceError, source: str, label: str) -> SourceError:
    """The transport's error with the series (or 'entity discovery') named after the source."""
    prefix = f"source {source!r}: "
    text = str(exc)
    message = f"{prefix}{label}: {text.removeprefix(prefix)}"
    if isinstance(exc, SourceTimeout):
        return SourceTimeout(message, cancelled=exc.cancelled)
    return SourceError(message, retryable=exc.retryable)


def _segment(text: str) -> str:
    """`text` as one percent-encoded path segment; `.` and `..` too, which URL parsers would resolve away."""
    encoded = quote(text, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def _resolved(value: str | None) -> str | None:
    """A `dg.EnvVar` left unresolved (the resource used without `dg.build_resources`) read from the environment."""
    return (value.get_value() or "") if isinstance(value, dg.EnvVar) else value


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
