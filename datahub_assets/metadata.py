"""Materialization metadata of a frame: row count, time span, schema and a preview."""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl

PREVIEW_ROWS = 10


def frame_metadata(frame: pl.DataFrame, ts: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "dagster/row_count": frame.height,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()]
        ),
        "preview": dg.MetadataValue.md(markdown_table(frame.head(PREVIEW_ROWS))),
    }
    if frame.height:
        first, last = frame.get_column(ts).min(), frame.get_column(ts).max()
        meta["first_ts"] = dg.MetadataValue.timestamp(first)
        meta["last_ts"] = dg.MetadataValue.timestamp(last)
    return meta


def markdown_table(frame: pl.DataFrame) -> str:
    if not frame.width:
        return "(no columns)"
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * frame.width
    rows = ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join([head, rule, *rows]) if rows else f"{head}\n{rule}\n(no rows)"
