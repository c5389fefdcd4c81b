"""`http`: JSON or CSV readings from an HTTP API, one request (or a few pages) per series and window.

The URL is a template: `{entity}`, `{attribute}`, `{column}`, `{start}`, `{end}` (ISO-8601 UTC with `Z`),
`{start_epoch}`, `{end_epoch}` (whole seconds: the start rounded down, the end rounded up; rows outside
`[start, end)` are dropped here). Every value is percent-encoded as one path segment or query value, so it can
never add a segment, a query or a host.

Requests only ever go to the scheme, host and port of `url`: a `next` link elsewhere is an error, never
followed, and redirects are not followed. Retries with backoff and jitter, `Retry-After`, the rate limit and
the API request's deadline are the shared transport's (`transport.py`); paging stops when the deadline passes
or the client goes away.

Errors and log lines name the source, the page and the HTTP status; never a URL, a query, a header value or
any other configuration value.
"""

from __future__ import annotations

import io
import json
import math
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import dagster as dg
import httpx
import polars as pl
from pydantic import PrivateAttr

from resources import deadline
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

MAX_PAGES = 10_000
PLACEHOLDERS = ("entity", "attribute", "column", "start", "end", "start_epoch", "end_epoch")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class HttpSource(Source):
    """An HTTP API answering JSON (`records` at a dot path) or CSV, one row per reading.

    `headers` values may be `dg.EnvVar`s (resolved by Dagster, shown by name). Of a request's `forwarded`
    headers only those named in `forward_headers` (case-insensitive) are sent; they win over a static header
    of the same name.
    """

    url: str
    format: str = "json"
    records: str = ""
    timestamp_field: str = "ts"
    value_field: str = "value"
    timestamp_unit: str | None = None
    next: str | None = None
    page_param: str | None = None
    page_size: int | None = None
    headers: dict[str, str] = {}
    timeout: str = "30s"
    retries: int = 5
    rate_limit: float | None = None
    DURATIONS = ("timeout",)

    _transport: Transport | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    # -- the protocol ------------------------------------------------------------------------------------

    def read(
        self, series: SeriesRef, *, start: datetime, end: datetime, forwarded: Mapping[str, str] | None = None
    ) -> pl.DataFrame:
        start, end = _utc(start), _utc(end)
        self._check_config()
        first = self._fill(series, start, end)
        headers = self._headers(forwarded)
        stamps: list[int] = []
        values: list[float | None] = []
        seen_value = False
        for page, records in enumerate(self._pages(first, headers), start=1):
            ts_raw, value_raw, has_value = records
            seen_value = seen_value or has_value
            stamps.extend(self._stamps(ts_raw, page))
            values.extend(self._values(value_raw, page))
        if stamps and not seen_value:
            raise SourceError(f"source {self.name!r}: no record has the value field {self.value_field!r}")
        frame = pl.DataFrame(
            {TS: pl.Series(stamps, dtype=pl.Int64).cast(TS_DTYPE), VALUE: pl.Series(values, dtype=pl.Float64)}
        )
        return in_window(frame, start, end)
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

    # -- requests ----------------------------------------------------------------------------------------

    def _check_config(self) -> None:
        values = {**self.model_dump(), "url": _resolved(self.url)}
        try:
            self.check_entry(values)
        except EntryError as exc:
            raise SourceError(f"source {self.name!r}: '{exc.key}' {exc.reason}") from None

    @classmethod
    def check_entry(cls, values: Mapping[str, Any]) -> None:
        super().check_entry(values)
        choices = {"format": ("json", "csv"), "timestamp_unit": (None, "s", "ms")}
        for key, allowed in choices.items():
            if values.get(key, cls.model_fields[key].default) not in allowed:
                raise EntryError(key, f"must be one of {', '.join(str(a) for a in allowed if a)}")
        if values.get("next") and values.get("page_param"):
            raise EntryError("next", "cannot be given with 'page_param': pick one way of paging")
        if values.get("next") and values.get("format", "json") != "json":
            raise EntryError("next", "paging by link needs format json")
        for key in ("page_size", "rate_limit"):
            if values.get(key) is not None and values[key] <= 0:
                raise EntryError(key, "must be positive")
        if not 0 <= values.get("retries", 5) <= 20:
            raise EntryError("retries", "must be between 0 and 20")
        if isinstance(values.get("timeout"), str) and parse_duration(values["timeout"]) > timedelta(minutes=10):
            raise EntryError("timeout", "must be at most 10m")
        url = values.get("url")
        if not isinstance(url, str):  # `${VAR}`: known only when the source is read
            return
        parts = urlsplit(url)
        if "{" in parts.netloc or "{" in parts.scheme:
            raise EntryError("url", "takes placeholders in its path and query only, never in its host")
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise EntryError("url", "must be an absolute http or https URL")
        for match in _PLACEHOLDER.finditer(url):
            if match.group(1) not in PLACEHOLDERS:
                raise EntryError("url", f"has an unknown placeholder {{{match.group(1)}}}; known: "
                                        f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}")

    def _fill(self, series: SeriesRef, start: datetime, end: datetime) -> str:
        values = {
            "entity": series.entity,
            "attribute": series.attribute,
            "column": series.column,
            "start": _iso(start),
            "end": _iso(end),
            "start_epoch": str(math.floor(start.timestamp())),
            "end_epoch": str(math.ceil(end.timestamp())),
        }
        return _PLACEHOLDER.sub(lambda m: quote(values[m.group(1)], safe=""), _resolved(self.url))

    def _headers(self, forwarded: Mapping[str, str] | None) -> dict[str, str]:
        accept = "application/json" if self.format == "json" else "text/csv"
        out: dict[str, str] = {"Accept": accept}
        chosen = self.forwarded_for(forwarded)
        for name, value in [*self.headers.items(), *chosen.items()]:
            for existing in [k for k in out if k.lower() == name.lower()]:
                del out[existing]
            out[name] = _resolved(value)
        return out

    def _pages(self, first: str, headers: dict[str, str]) -> Iterator[tuple[list[Any], list[Any], bool]]:
        """Each page's (timestamps, values, whether any record had the value field), in delivery order."""
        transport = self._http()
        url: str | None = first
        seen: set[str] = set()
        page = 0
        while url is not None:
            page += 1
            if page > MAX_PAGES:
                raise SourceError(f"source {self.name!r}: more than {MAX_PAGES} pages; stopped")
            limit = deadline.current()
            if limit.done():  # the API request's deadline passed, or its client went away
                raise SourceTimeout(f"source {self.name!r}: page {page}: "
                                    f"{deadline.DeadlineExceeded(limit.seconds, limit.cancelled)}",
                                    cancelled=limit.cancelled)
            if self.page_param:
                url = _with_param(first, self.page_param, str(page))
            body = self._body(transport.get(url, headers, page), page)
            rows = self._records(body, page)
            yield rows
            count = len(rows[0])
            if self.page_param:
                if count == 0 or (self.page_size is not None and count < self.page_size):
                    return
            elif self.next:
                link = _dig(body, self.next)
                if link is _MISSING or link is None or link == "":
                    return
                if not isinstance(link, str):
                    raise SourceError(f"source {self.name!r}: page {page}: the 'next' link is not a string")
                target = transport.follow(url, link, first, page)
                seen.add(url)
                if target in seen:
                    raise SourceError(f"source {self.name!r}: page {page}: the 'next' link repeats an earlier page")
                url = target
            else:
                return

    # -- parsing -----------------------------------------------------------------------------------------

    def _body(self, response: httpx.Response, page: int) -> Any:
        """The parsed body; `_EMPTY` for 204 No Content or a blank body (no records, no next page)."""
        if response.status_code == 204 or not response.content.strip():
            return _EMPTY
        if self.format == "csv":
            return response.content
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise SourceError(f"source {self.name!r}: page {page}: the response is not valid JSON") from None

    def _records(self, body: Any, page: int) -> tuple[list[Any], list[Any], bool]:
        if body is _EMPTY:
            return [], [], False
        if self.format == "csv":
            return self._csv_records(body, page)
        records = _dig(body, self.records) if self.records else body
        if records is _MISSING:
            raise SourceError(f"source {self.name!r}: page {page}: the 'records' path is not in the response")
        if records is None:
            records = []
        if not isinstance(records, list):
            raise SourceError(f"source {self.name!r}: page {page}: the records are not a list")
        stamps: list[Any] = []
        values: list[Any] = []
        has_value = False
        for i, record in enumerate(records, start=1):
            if not isinstance(record, dict):
                raise SourceError(f"source {self.name!r}: page {page}: record {i} is not an object")
            stamps.append(record.get(self.timestamp_field))
            has_value = has_value or self.value_field in record
            values.append(record.get(self.value_field))
        return stamps, values, has_value

    def _csv_records(self, content: bytes, page: int) -> tuple[list[Any], list[Any], bool]:
        if not content.strip():
            return [], [], False
        try:
            table = pl.read_csv(io.BytesIO(content), infer_schema=False, encoding="utf8-lossy")
        except pl.exceptions.PolarsError:
            raise SourceError(f"source {self.name!r}: page {page}: the response is not valid CSV") from None
        table = table.rename({c: c.strip() for c in table.columns if c != c.strip()})
        for field in (self.timestamp_field, self.value_field):
            if field not in table.columns:
                raise SourceError(f"source {self.name!r}: page {page}: no column {field!r} in the CSV")
        return table[self.timestamp_field].to_list(), table[self.value_field].to_list(), True

    def _stamps(self, raw: list[Any], page: int) -> Iterator[int]:
        scale = 1_000 if self.timestamp_unit == "ms" else 1_000_000
        for i, item in enumerate(raw, start=1):
            stamp: int | None = None
            if isinstance(item, int | float) and not isinstance(item, bool):
                stamp = _epoch_us(float(item), scale)
            elif isinstance(item, str):
                text = item.strip()
                stamp = _epoch_us(float(text), scale) if _NUMBER.match(text) else _iso_us(text)
            if stamp is None:
                raise SourceError(
                    f"source {self.name!r}: page {page}: record {i} has no valid timestamp in field "
                    f"{self.timestamp_field!r} (ISO-8601 or epoch expected)"
                )
            yield stamp

    def _values(self, raw: list[Any], page: int) -> Iterator[float | None]:
        for i, item in enumerate(raw, start=1):
            if item is None:
                yield None
                continue
            if isinstance(item, int | float) and not isinstance(item, bool):
                yield float(item)
                continue
            if isinstance(item, str):
                text = item.strip()
                if text == "":
                    yield None
                    continue
                try:
                    yield float(text)
                    continue
                except ValueError:
                    pass
            raise SourceError(
                f"source {self.name!r}: page {page}: record {i}: field {self.value_field!r} is not a number"
            )


# -- helpers -----------------------------------------------------------------------------------------------

_MISSING: Any = object()
_EMPTY: Any = object()


def _resolved(value: str) -> str:
    """A `dg.EnvVar` left unresolved (the resource used without `dg.build_resources`) read from the environment."""
    return (value.get_value() or "") if isinstance(value, dg.EnvVar) else value


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _epoch_us(seconds_or_ms: float, scale: int) -> int | None:
    if not math.isfinite(seconds_or_ms):
        return None
    return round(seconds_or_ms * scale)


def _iso_us(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (_utc(moment) - _EPOCH) // timedelta(microseconds=1)


def _dig(body: Any, path: str) -> Any:
    """`a.b.c` in nested objects; `_MISSING` where a key is absent (list indexes are digits: `items.0.data`)."""
    node = body
    for key in path.split("."):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return _MISSING
    return node

def _with_param(url: str, name: str, value: str) -> str:
    """`url` plus `name=value` in its query, leaving the rest of the query exactly as it is."""
    parts = urlsplit(url)
    pair = f"{quote(name, safe='')}={quote(value, safe='')}"
    query = f"{parts.query}&{pair}" if parts.query else pair
    return urlunsplit(parts._replace(query=query))
