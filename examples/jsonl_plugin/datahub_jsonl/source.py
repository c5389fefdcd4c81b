"""An example source kind, as a plugin package: readings kept as JSON lines, one file per entity.

    sources:
      lab:
        kind: "datahub_jsonl.source:JsonLinesSource"
        folder: /data/lab          # <folder>/<entity>.jsonl, lines like {"t": "2024-01-01T00:00:00Z", "temp": 21.5}
        time_key: t

Install it beside DataHub (`.venv/bin/pip install -e examples/jsonl_plugin`); the catalog then names the class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import polars as pl

from resources.sources.base import TS, TS_DTYPE, VALUE, EntryError, SeriesRef, Source, SourceError, in_window


class JsonLinesSource(Source):
    """Catalog keys: `folder` (required) and `time_key` (the stamp's key in each line, ISO-8601)."""

    folder: str
    time_key: str = "t"

    @classmethod
    def check_entry(cls, values: Mapping[str, Any]) -> None:
        super().check_entry(values)
        if isinstance(values.get("time_key"), str) and not values["time_key"]:
            raise EntryError("time_key", "must not be empty")

    def read(
        self, series: SeriesRef, *, start: datetime, end: datetime, forwarded: Mapping[str, str] | None = None
    ) -> pl.DataFrame:
        path = Path(self.folder) / f"{quote(series.entity, safe='')}.jsonl"
        stamps: list[str] = []
        values: list[float | None] = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise SourceError(f"source {self.name!r}: no file for entity {series.entity!r}") from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                stamps.append(str(record[self.time_key]))
                value = record.get(series.column)
                values.append(None if value is None else float(value))
            except (ValueError, KeyError, TypeError):
                raise SourceError(f"source {self.name!r}: line {number} of entity {series.entity!r} is not a "
                                  "reading") from None
        frame = pl.DataFrame({TS: stamps, VALUE: pl.Series(values, dtype=pl.Float64)}).with_columns(
            pl.col(TS).str.to_datetime(time_unit="us", time_zone="UTC").cast(TS_DTYPE))
        return in_window(frame, start, end)

    def entities(self) -> list[SeriesRef]:
        """Every (entity, key) pair the files hold: a file per entity, the keys of its first line."""
        found = []
        for path in sorted(Path(self.folder).glob("*.jsonl")):
            first = next((line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()), "{}")
            keys = [k for k in json.loads(first) if k != self.time_key]
            found += [SeriesRef(unquote(path.stem), key, key) for key in keys]
        return found
