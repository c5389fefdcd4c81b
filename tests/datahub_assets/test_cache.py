"""The partition cache: closed days decoded once, a rewritten file never served stale, bounded in bytes."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from datahub_assets.cache import PartitionCache
from datahub_assets.window import read_many
from resources.catalog import load_catalog
from resources.lake import ParquetLake

DAY = date(2024, 3, 2)


def frame(value: float, n: int = 24) -> pl.DataFrame:
    start = datetime(2024, 3, 2, tzinfo=UTC)
    return pl.DataFrame({"ts": [start + timedelta(hours=h) for h in range(n)], "value": [value] * n},
                        schema={"ts": pl.Datetime("us", "UTC"), "value": pl.Float64})


def test_closed_days_are_decoded_once_and_rewrites_are_seen(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("partitions: {start: '2024-03-01'}\nsources:\n  s: {kind: demo}\n"
                                     "series:\n  - {entity: e, attribute: a, source: s}\n")
    catalog = load_catalog(tmp_path / "c.yaml")
    lake = ParquetLake(root=str(tmp_path / "lake"))
    dataset = lake.dataset("default", "raw", "s", "e_a")
    lake.write(dataset, DAY, frame(1.0))
    cache = PartitionCache()
    window = {"start": datetime(2024, 3, 2, tzinfo=UTC), "end": datetime(2024, 3, 3, tzinfo=UTC),
              "carry": timedelta(0), "cache": cache, "today": date(2024, 3, 10)}

    def values() -> list[float]:
        (lazy,) = read_many(lake, catalog, catalog.series, **window)  # type: ignore[arg-type]
        return lazy.collect()["value"].unique().to_list()

    assert values() == [1.0] and (cache.hits, cache.misses) == (0, 1)
    assert values() == [1.0] and (cache.hits, cache.misses) == (1, 1)
    time.sleep(0.01)
    lake.write(dataset, DAY, frame(2.0))  # rewritten (by the raw asset, read-through or a revision)
    assert values() == [2.0] and cache.misses == 2
    open_day = {**window, "today": DAY}  # today's partition is still filling: read every time, never kept
    (lazy,) = read_many(lake, catalog, catalog.series, **open_day)  # type: ignore[arg-type]
    assert lazy.collect().height == 24 and cache.misses == 2 and cache.hits == 1


def test_the_cache_is_bounded_in_bytes() -> None:
    one = frame(1.0, 1000)
    cache = PartitionCache(max_bytes=int(one.estimated_size() * 2.5))
    for i in range(5):
        cache.put(f"u{i}", "v", one)
    assert len(cache) == 2 and cache.bytes <= cache.max_bytes
    assert cache.get("u4", "v") is not None and cache.get("u0", "v") is None  # least recently used went first
    assert cache.get("u4", "other") is None  # another version is a miss
