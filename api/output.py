"""Answer formats of an aligned grid: Arrow IPC stream, JSON, CSV, Parquet; the first three streamed in
chunks of rows, so a large answer is never held whole in memory, in Python objects or as text."""

from __future__ import annotations

import io
from collections.abc import Iterator

import polars as pl
import pyarrow as pa
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from api.errors import ApiError
from api.service import Aligned
from api.work import guarded, released_on_error
from datahub_assets.engine.schema import CSV_DATETIME_FORMAT, QUALITY_SUFFIX, TS, handed_out

ARROW = "application/vnd.apache.arrow.stream"
CSV = "text/csv"
JSON = "application/json"
CHUNK_ROWS = 65_536
CSV_CHUNK_ROWS = 10_000
_OFFERED = (JSON, ARROW, CSV)  # in order of preference at equal quality


def negotiate(accept: str | None) -> str:
    """The offered type the `Accept` header prefers: each type takes the quality of its most specific
    matching range (RFC 9110); the highest wins, ties go to the range listed first; `q=0` refuses. No
    header, or an empty one, is JSON; nothing acceptable is a 406."""
    if not accept or not accept.strip():
        return JSON
    ranges: list[tuple[str, float, int]] = []
    for order, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(1.0, max(0.0, float(value)))
                except ValueError:
                    quality = 0.0
        if media:
            ranges.append((media.lower(), quality, order))
    best: tuple[float, int, int, str] | None = None
    for preference, offer in enumerate(_OFFERED):
        kind = offer.split("/")[0]
        matches = [(specific, q, order) for media, q, order in ranges
                   for specific, pattern in ((2, offer), (1, f"{kind}/*"), (0, "*/*")) if media == pattern]
        if not matches:
            continue
        _, quality, order = max(matches)  # the most specific range decides
        rank = (-quality, order, preference, offer)
        if quality > 0 and (best is None or rank < best):
            best = rank
    if best is None:
        raise ApiError(406, f"Accept: none of {', '.join(_OFFERED)} is acceptable")
    return best[3]


def epoch_seconds(frame: pl.DataFrame) -> pl.Series:
    return (frame.get_column(TS).cast(pl.Int64) / 1_000_000).alias("timestamp")


def arrow_schema(result: Aligned) -> pa.Schema:
    """NKZ schema: `timestamp` Float64 epoch seconds, `value_i` Float64 with the series as field metadata."""
    fields = [pa.field("timestamp", pa.float64())]
    for name, series in zip(result.columns, result.series, strict=True):
        meta = {"entity_id": series.entity, "attribute": series.attribute, "source": series.source,
                "unit": series.unit or ""}
        fields.append(pa.field(name, pa.float64(), metadata=meta))
        if result.quality:
            fields.append(pa.field(name + QUALITY_SUFFIX, pa.uint8()))
    return pa.schema(fields)


def arrow_chunks(result: Aligned, rows: int = CHUNK_ROWS) -> Iterator[bytes]:
    """The Arrow IPC stream: the schema message, then one record batch per chunk of rows."""
    schema = arrow_schema(result)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, schema) as writer:
        for chunk in result.pieces(rows):
            arrays = [epoch_seconds(chunk).to_arrow()]
            for name in result.columns:
                arrays.append(chunk.get_column(name).cast(pl.Float64).to_arrow())
                if result.quality:
                    arrays.append(chunk.get_column(name + QUALITY_SUFFIX).to_arrow())
            writer.write_batch(pa.record_batch(arrays, schema=schema))
            yield _drain(sink)
    yield _drain(sink)  # the end-of-stream marker


def arrow_stream(result: Aligned) -> bytes:
    return b"".join(arrow_chunks(result))


def _drain(sink: io.BytesIO) -> bytes:
    data = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return data


def _json_numbers(values: pl.Series) -> str:
    """Comma-separated JSON numbers; a null (or a non-finite value, which JSON cannot carry) as `null`."""
    value = pl.col("v")
    shown = value.cast(pl.String).fill_null("null") if values.dtype.is_integer() else \
        pl.when(value.is_finite()).then(value.cast(pl.String)).otherwise(pl.lit("null"))
    text = values.to_frame("v").select(shown).to_series()
    return text.str.join(",").item() if len(text) else ""


def json_chunks(result: Aligned, rows: int = CHUNK_ROWS) -> Iterator[bytes]:
    """`{"timestamps": [...], "value_0": [...], ..., "columns": [...]}`, one chunk of rows at a time."""
    import json

    arrays = [("timestamps", epoch_seconds(result.frame))]
    for i, name in enumerate(result.columns):
        arrays.append((name, result.frame.get_column(name).cast(pl.Float64)))
        if result.quality:
            arrays.append((f"quality_{i}", result.frame.get_column(name + QUALITY_SUFFIX)))
    for index, (name, column) in enumerate(arrays):
        yield (("{" if index == 0 else "],") + json.dumps(name) + ":[").encode()
        for offset in range(0, len(column), rows):
            yield (("," if offset else "") + _json_numbers(column.slice(offset, rows))).encode()
    columns = [{"name": name, "entity_id": s.entity, "attribute": s.attribute, "source": s.source, "unit": s.unit}
               for name, s in zip(result.columns, result.series, strict=True)]
    yield ('],"columns":' + json.dumps(columns) + "}").encode()


def named_frame(result: Aligned, frame: pl.DataFrame | None = None) -> pl.DataFrame:
    """`timestamp` (timestamp[us, UTC]) then one Float64 column per series named `<entity>.<attr>`."""
    columns = [(c, s.id) for c, s in zip(result.columns, result.series, strict=True)]
    return handed_out(result.frame if frame is None else frame, columns).collect()


def csv_chunks(result: Aligned, rows: int = CSV_CHUNK_ROWS) -> Iterator[bytes]:
    """ISO-8601 `Z` stamps, empty fields for missing cells, exactly one header line."""
    for index, piece in enumerate(result.pieces(rows)):
        yield named_frame(result, piece).write_csv(include_header=index == 0,
                                                   datetime_format=CSV_DATETIME_FORMAT).encode()


def chunks(result: Aligned, kind: str) -> Iterator[bytes]:
    if kind == ARROW:
        return arrow_chunks(result)
    if kind == CSV:
        return csv_chunks(result)
    return json_chunks(result)


def parquet_bytes(result: Aligned) -> bytes:
    sink = io.BytesIO()
    named_frame(result).write_parquet(sink, compression="zstd")
    return sink.getvalue()


# Answers up to this many cells are built whole, larger ones stream: Arrow ~8 bytes a cell (up to 8 MiB), text
# several times that, within the ~24 bytes a cell the answer reserved from the memory budget.
WHOLE_ARROW_CELLS = 1_000_000
WHOLE_TEXT_CELLS = 50_000


def whole(result: Aligned | None, kind: str) -> bytes | None:
    """The whole answer's body, for an answer small enough to be built at once (in the request's worker
    thread, so the event loop only sends it); None for one that streams."""
    limit = WHOLE_ARROW_CELLS if kind == ARROW else WHOLE_TEXT_CELLS
    if result is None or result.stream is not None or result.frame.height * (len(result.series) + 1) > limit:
        return None
    with released_on_error(result.release):
        return b"".join(chunks(result, kind))


def respond(result: Aligned, kind: str, body: bytes | None, headers: dict[str, str] | None = None) -> Response:
    """The answer in the negotiated format, `body` if it was built whole; the answer's memory reservation is
    given back once it is sent."""
    if body is not None:
        result.release()
        return Response(body, media_type=kind, headers=headers)
    return StreamingResponse(guarded(chunks(result, kind), result.release), media_type=kind, headers=headers,
                             background=BackgroundTask(result.release))
