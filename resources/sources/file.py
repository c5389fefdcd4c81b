"""`file`: CSV or Parquet files (one file, a glob, or an `s3://` URL), wide: one timestamp, a column per series.

Naive local stamps are localized in `timezone`: at a DST change a repeated wall-clock time keeps both
readings (its first occurrence, in row order, is summer time) and a stamp inside the skipped hour is an error.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from resources.sources.base import TS, TS_DTYPE, VALUE, EntryError, SeriesRef, Source, SourceError, in_window

_FILE = "__file"
_ROW = "__row"
_CACHE_SIZE = 16
_CACHE: dict[tuple[Any, ...], pl.DataFrame] = {}


class FileSource(Source):
    """Catalog keys: `path` (a file, a glob or an `s3://` URL; relative to the catalog), `format` (csv |
    parquet; by the suffix), `timestamp_column` (a column, or several joined with a space), `timestamp_format`,
    `timestamp_unit` (s | ms), `timestamp_offset` (a signed duration), `timezone` (of naive stamps),
    `delimiter`, `decimal`. S3 access comes from the settings, its keys as `EnvVar`s."""

    path: str
    format: str | None = None
    timestamp_column: list[str]
    timestamp_format: str | None = None
    timestamp_unit: str | None = None
    timestamp_offset: str = "0s"
    timezone: str = "UTC"
    delimiter: str = ","
    decimal: str = "."
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str = "us-east-1"

    DURATIONS = ("timestamp_offset",)
    SETTINGS = ("s3_endpoint", "s3_access_key", "s3_secret_key", "s3_region")

    @classmethod
    def check_entry(cls, values: Mapping[str, Any]) -> None:
        super().check_entry(values)
        choices = {"format": (None, "csv", "parquet"), "timestamp_unit": (None, "s", "ms")}
        for key, allowed in choices.items():
            if values.get(key) not in allowed:
                raise EntryError(key, f"must be one of {', '.join(str(a) for a in allowed if a)}")
        for key in ("delimiter", "decimal"):
            if isinstance(values.get(key), str) and len(values[key]) != 1:
                raise EntryError(key, "must be one character")
        zone = values.get("timezone")
        if isinstance(zone, str):
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise EntryError("timezone", f"unknown time zone {zone!r}") from None

    @classmethod
    def from_entry(cls, name: str, values: dict[str, Any], *, base_dir: Path, settings: Any) -> Source:
        path = values["path"]
        if isinstance(path, str) and not isinstance(path, dg.EnvVar) and not path.startswith("s3://") \
                and not Path(path).is_absolute():
            values = {**values, "path": str(base_dir / path)}
        s3 = {"s3_endpoint": settings.s3_endpoint, "s3_region": settings.s3_region,
              "s3_access_key": dg.EnvVar("S3_ACCESS_KEY") if settings.s3_access_key else None,
              "s3_secret_key": dg.EnvVar("S3_SECRET_KEY") if settings.s3_secret_key else None}
        return cls(name=name, **values, **s3)

    @property
    def storage_options(self) -> dict[str, str] | None:
        """Polars' object-store options for an `s3://` path (None for local files)."""
        if not self.path.startswith("s3://"):
            return None
        from resources.lake import s3_storage_options

        return s3_storage_options(self.s3_endpoint, _resolved(self.s3_access_key), _resolved(self.s3_secret_key),
                                  self.s3_region)

    def read(
        self, series: SeriesRef, *, start: datetime, end: datetime, forwarded: Mapping[str, str] | None = None
    ) -> pl.DataFrame:
        table = self.load()
        if series.column not in table.columns:
            raise SourceError(f"source {self.name!r}: no column {series.column!r} in its files")
        frame = table.select(TS, _FILE, _ROW, pl.col(series.column).alias(VALUE))
        return in_window(frame, start, end).pipe(self._values, series.column).select(TS, VALUE)

    def load(self) -> pl.DataFrame:
        """All files, in sorted path order, with `ts` parsed to UTC; cached while the files are unchanged."""
        paths = self._paths()
        key = (self.model_dump_json(), tuple(paths), tuple(_fingerprint(p) for p in paths))
        if key not in _CACHE:
            if len(_CACHE) >= _CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = self._parse(tuple(paths))
        return _CACHE[key]

    def fingerprints(self) -> dict[str, str]:
        """Each matching file's version (`mtime:size`), to notice new or changed files."""
        return {p: "{:.6f}:{}".format(*_fingerprint(p)) for p in self._paths()}

    def days_of(self, paths: list[str]) -> list[date]:
        """The UTC days that rows of these files fall on, sorted."""
        stamps = pl.concat([self._parse((p,)).select(TS) for p in paths])
        return sorted(stamps.get_column(TS).dt.date().unique().drop_nulls().to_list())

    def _paths(self) -> list[str]:
        if self.path.startswith("s3://"):
            return [self.path]
        paths = sorted(glob.glob(self.path)) if glob.has_magic(self.path) else [self.path]
        if not paths or not all(os.path.isfile(p) for p in paths):
            raise SourceError(f"source {self.name!r}: no file matches its 'path'")
        return paths

    def _read_one(self, path: str) -> pl.DataFrame:
        fmt = self.format or ("parquet" if path.endswith(".parquet") else "csv")
        try:
            if fmt == "parquet":
                return pl.read_parquet(path, storage_options=self.storage_options)
            frame = pl.read_csv(
                path,
                separator=self.delimiter,
                infer_schema=False,
                encoding="utf8-lossy",
                storage_options=self.storage_options,
                truncate_ragged_lines=True,
            )
            # Exports often end header lines with stray carriage returns or blanks: names are trimmed.
            return frame.rename({c: c.strip() for c in frame.columns if c != c.strip()})
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise SourceError(f"source {self.name!r}: cannot read a file of its 'path': {type(exc).__name__}") from None

    def _parse(self, paths: tuple[str, ...]) -> pl.DataFrame:
        frames = []
        for index, path in enumerate(paths):
            frame = self._read_one(path)
            missing = [c for c in self.timestamp_column if c not in frame.columns]
            if missing:
                raise SourceError(f"source {self.name!r}: timestamp column {missing[0]!r} not found")
            frames.append(frame.with_columns(pl.lit(index).alias(_FILE), pl.int_range(pl.len()).alias(_ROW)))
        table = pl.concat(frames, how="diagonal_relaxed")
        stamps = self._timestamps(table)
        return table.drop(self.timestamp_column, strict=False).with_columns(stamps)

    def _timestamps(self, table: pl.DataFrame) -> pl.Series:
        cols = self.timestamp_column
        raw = table.get_column(cols[0]) if len(cols) == 1 else table.select(
            pl.concat_str([pl.col(c).cast(pl.String) for c in cols], separator=" ")
        ).to_series()
        if raw.dtype == pl.String:
            raw = raw.str.strip_chars()
        if self.timestamp_unit is not None or raw.dtype.is_numeric():
            to_us = 1_000 if self.timestamp_unit == "ms" else 1_000_000
            parsed = (raw.cast(pl.Float64) * to_us).round().cast(pl.Int64).cast(TS_DTYPE)
        elif isinstance(raw.dtype, pl.Datetime):
            parsed = raw
        else:
            parsed = self._parse_text(raw, table)
        if isinstance(parsed.dtype, pl.Datetime) and parsed.dtype.time_zone is None:
            parsed = self._localize(parsed, table)
        parsed = parsed.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        return (parsed + self.duration("timestamp_offset")).alias(TS)

    def _parse_text(self, raw: pl.Series, table: pl.DataFrame) -> pl.Series:
        try:
            if self.timestamp_format:
                return raw.str.strptime(pl.Datetime("us"), self.timestamp_format, strict=True)
            return raw.str.to_datetime(time_unit="us", strict=True)
        except pl.exceptions.PolarsError:
            fmt = self.timestamp_format
            probe = raw.str.strptime(pl.Datetime("us"), fmt, strict=False) if fmt else raw.str.to_datetime(
                time_unit="us", strict=False
            )
            bad = table.filter(probe.is_null() & raw.is_not_null()).head(1)
            where = _where(bad)
            raise SourceError(
                f"source {self.name!r}: timestamp at {where} does not match "
                f"{'timestamp_format' if fmt else 'ISO-8601'}"
            ) from None

    def _localize(self, wall: pl.Series, table: pl.DataFrame) -> pl.Series:
        frame = pl.DataFrame({"wall": wall, _FILE: table[_FILE], _ROW: table[_ROW]})
        occurrence = pl.int_range(pl.len()).over("wall")
        frame = frame.with_columns(
            pl.col("wall").dt.replace_time_zone(self.timezone, ambiguous="earliest", non_existent="null").alias("a"),
            pl.col("wall").dt.replace_time_zone(self.timezone, ambiguous="latest", non_existent="null").alias("b"),
            occurrence.alias("n"),
        )
        gap = frame.filter(pl.col("a").is_null() & pl.col("wall").is_not_null()).head(1)
        if gap.height:
            raise SourceError(
                f"source {self.name!r}: local time {gap['wall'][0]} at {_where(gap)} does not exist in "
                f"{self.timezone} (clocks skipped it)"
            )
        return frame.select(pl.when(pl.col("n") == 0).then("a").otherwise("b")).to_series()

    def _values(self, frame: pl.DataFrame, column: str) -> pl.DataFrame:
        value = pl.col(VALUE)
        if frame.schema[VALUE] == pl.String:
            text = value.str.strip_chars().str.replace_all(r"[\s\u00a0]", "")
            if self.decimal != ".":
                text = text.str.replace_all(".", "", literal=True).str.replace_all(self.decimal, ".", literal=True)
            text = pl.when(text == "").then(None).otherwise(text)
            frame = frame.with_columns(text.alias("__text"), text.cast(pl.Float64, strict=False).alias(VALUE))
            bad = frame.filter(pl.col(VALUE).is_null() & pl.col("__text").is_not_null()).head(1)
            if bad.height:
                raise SourceError(f"source {self.name!r}: column {column!r} at {_where(bad)} is not a number")
            return frame
        if not frame.schema[VALUE].is_numeric():
            raise SourceError(f"source {self.name!r}: column {column!r} is not numeric")
        return frame.with_columns(value.cast(pl.Float64))


def _resolved(value: str | None) -> str | None:
    """A `dg.EnvVar` left unresolved (the resource used outside `dg.build_resources`) read from the environment."""
    return value.get_value() if isinstance(value, dg.EnvVar) else value


def _where(rows: pl.DataFrame) -> str:
    return f"file #{rows[_FILE][0] + 1}, data row {rows[_ROW][0] + 1}"


def _fingerprint(path: str) -> tuple[float, int]:
    if path.startswith("s3://"):
        return (0.0, 0)
    stat = Path(path).stat()
    return (stat.st_mtime, stat.st_size)

