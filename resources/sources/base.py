"""What every source kind shares: the base class the code is typed against, the series it is asked for and
the frame it answers with.

A source kind is one class deriving from `Source` (a Dagster `ConfigurableResource`): its fields, but for
`name` and the `SETTINGS` ones filled from the environment, are exactly the catalog keys of that kind; the
catalog validates an entry against them (and `check_entry`) at load, and the registry builds the resource
from the entry. Built-in kinds are listed in `resources/sources/kinds.py`; a plugin is named in the catalog as
`kind: "pkg.module:Class"` and must derive from `Source` too.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
import polars as pl

from resources.durations import parse_duration

TS = "ts"
VALUE = "value"
TS_DTYPE = pl.Datetime("us", "UTC")
FRAME_SCHEMA = pl.Schema([(TS, TS_DTYPE), (VALUE, pl.Float64())])


class SourceError(RuntimeError):
    """A source could not be read; the message names the source, never a secret or a URL's query.

    `retryable` tells a transient failure (network, 5xx, timeout) from one that retrying cannot fix.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class SourceTimeout(SourceError):
    """A source read stopped because the API request's deadline passed or its client went away."""

    def __init__(self, message: str, *, cancelled: bool = False) -> None:
        super().__init__(message)
        self.cancelled = cancelled


class SourceBusy(SourceError):
    """Too many fetches are already waiting for one source; ask again after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retryable=True)
        self.retry_after = retry_after


class EntryError(ValueError):
    """A catalog entry a reader would refuse: `key` is the catalog key at fault ('' for the entry)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key, self.reason = key, reason


@dataclass(frozen=True)
class SeriesRef:
    """One series as a source sees it: the entity, the attribute and the source's selector (`column`)."""

    entity: str
    attribute: str
    column: str


class Source(dg.ConfigurableResource):
    """The protocol of every source kind.

    `read` returns the readings in [start, end) as `ts` (UTC, us) and `value` (Float64), in the order the
    source delivered them (not deduplicated, not sorted: the caller cleans and checks). `forwarded` holds the
    headers of the API request that asked; a source sends on only those `forwarded_for` keeps (its catalog
    entry's `forward_headers`). `entities` lists the series a source can offer (None: it cannot tell).
    """

    name: str
    forward_headers: list[str] = []

    # Catalog keys written as durations ("30s"), kept as text in the resource and checked at load.
    DURATIONS: ClassVar[tuple[str, ...]] = ()
    # Fields that come from the settings (the environment), not from the catalog.
    SETTINGS: ClassVar[tuple[str, ...]] = ()

    def read(
        self, series: SeriesRef, *, start: datetime, end: datetime, forwarded: Mapping[str, str] | None = None
    ) -> pl.DataFrame:
        raise NotImplementedError(f"{type(self).__name__} does not implement read()")

    def forwarded_for(self, headers: Mapping[str, str] | None) -> dict[str, str]:
        """The caller's headers this source sends on (lower-cased names): those its `forward_headers` names."""
        wanted = {h.lower() for h in self.forward_headers}
        return {k.lower(): v for k, v in (headers or {}).items() if k.lower() in wanted}

    def entities(self) -> list[SeriesRef] | None:
        return None

    def duration(self, field: str) -> timedelta:
        return parse_duration(str(getattr(self, field)), allow_negative=True)

    # -- the catalog side ------------------------------------------------------------------------------

    @classmethod
    def catalog_keys(cls) -> dict[str, Any]:
        """The catalog keys of this kind: field name -> pydantic FieldInfo."""
        return {k: f for k, f in cls.model_fields.items() if k != "name" and k not in cls.SETTINGS}

    @classmethod
    def check_entry(cls, values: Mapping[str, Any]) -> None:
        """Raise EntryError for anything a reader would refuse later. Values given as `${VAR}` are not known
        at load (they are `EnvRef`s, not `str`) and are skipped."""
        for key in cls.DURATIONS:
            value = values.get(key)
            if isinstance(value, str):
                try:
                    parse_duration(value, allow_negative=key.endswith("offset"))
                except ValueError as exc:
                    raise EntryError(key, str(exc)) from None

    @classmethod
    def from_entry(cls, name: str, values: dict[str, Any], *, base_dir: Path, settings: Any) -> Source:
        """The resource of one catalog entry (values already turned into `dg.EnvVar` where secret)."""
        return cls(name=name, **values)



def contract_problem(kind: object) -> str | None:
    """Why an object cannot serve as a source kind (None when it can): plugins are checked at load."""
    if not (isinstance(kind, type) and issubclass(kind, Source)):
        return "is not a subclass of resources.sources.base.Source"
    if kind.read is Source.read:
        return "does not implement read()"
    params = inspect.signature(kind.read).parameters
    missing = [p for p in ("series", "start", "end", "forwarded") if p not in params]
    return f"its read() lacks the parameter(s) {', '.join(missing)}" if missing else None


def in_window(frame: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    return frame.filter((pl.col(TS) >= start) & (pl.col(TS) < end))
