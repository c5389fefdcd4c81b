"""Answer formats of an aligned grid: Arrow IPC stream, JSON, CSV (streamed), Parquet."""

from __future__ import annotations

import io
from collections.abc import Iterator

import polars as pl
import pyarrow as pa

from api.service import Aligned
from datahub_assets.engine.schema import CSV_DATETIME_FORMAT, TS, handed_out

ARROW = "application/vnd.apache.arrow.stream"
CSV = "text/csv"
CSV_CHUNK_ROWS = 10_000


def negotiate(accept: str | None) -> str:
    accept = (accept or "").lower()
    if ARROW in accept:
        return ARROW
    if CSV in accept:
        return CSV
    return "application/json"


def epoch_seconds(frame: pl.DataFrame) -> pl.Series:
    return (frame.get_column(TS).cast(pl.Int64) / 1_000_000).alias("timestamp")


def arrow_stream(result: Aligned) -> bytes:
    """NKZ schema: `timestamp` Float64 epoch seconds, `value_i` Float64 with the series as field metadata."""
    fields = [pa.field("timestamp", pa.float64())]
    arrays = [epoch_seconds(result.frame).to_arrow()]
    for name, series in zip(result.columns, result.series, strict=True):
        meta = {"entity_id": series.entity, "attribute": series.attribute, "source": series.source,
                "unit": series.unit or ""}
        fields.append(pa.field(name, pa.float64(), metadata=meta))
        arrays.append(result.frame.get_column(name).cast(pl.Float64).to_arrow())
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def json_body(result: Aligned) -> dict[str, object]:
    body: dict[str, object] = {"timestamps": epoch_seconds(result.frame).to_list()}
    for name in result.columns:
        body[name] = result.frame.get_column(name).to_list()
    body["columns"] = [
        {"name": name, "entity_id": s.entity, "attribute": s.attribute, "source": s.source, "unit": s.unit}
        for name, s in zip(result.columns, result.series, strict=True)
    ]
    return body


def named_frame(result: Aligned) -> pl.DataFrame:
    """`timestamp` (timestamp[us, UTC]) then one Float64 column per series named `<entity>.<attr>`."""
    columns = [(c, s.id) for c, s in zip(result.columns, result.series, strict=True)]
    return handed_out(result.frame, columns).collect()


def csv_chunks(result: Aligned, rows: int = CSV_CHUNK_ROWS) -> Iterator[bytes]:
    """ISO-8601 `Z` stamps, empty fields for missing cells, exactly one header line."""
    frame = named_frame(result)
    if frame.height == 0:
        yield frame.write_csv(datetime_format=CSV_DATETIME_FORMAT).encode()
        return
    for offset in range(0, frame.height, rows):
        chunk = frame.slice(offset, rows)
        yield chunk.write_csv(include_header=offset == 0, datetime_format=CSV_DATETIME_FORMAT).encode()


def parquet_bytes(result: Aligned) -> bytes:
    sink = io.BytesIO()
    named_frame(result).write_parquet(sink, compression="zstd")
    return sink.getvalue()
