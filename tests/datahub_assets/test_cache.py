"""The partition cache: closed days decoded once, a rewritten file never served stale, bounded in bytes."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from datahub_assets.cache import PartitionCache
from datahub_assets.window import read_frames, read_many
from resources.catalog import Catalog, load_catalog
from resources.lake import ParquetLake

DAY = date(2024, 3, 2)


def frame(value: float, n: int = 24) -> pl.DataFrame:
    start = datetime(2024, 3, 2, tzinfo=UTC)
    return pl.DataFrame({"ts": [start + timedelta(hours=h) for h in range(n)], "value": [value] * n},
                        schema={"ts": pl.Datetime("us", "UTC"), "value": pl.Float64})


def one_series(tmp_path: Path) -> tuple[Catalog, ParquetLake, str]:
    """A catalog of one demo series and its raw dataset in an empty lake."""
    (tmp_path / "c.yaml").write_text("partitions: {start: '2024-03-01'}\nsources:\n  s: {kind: demo}\n"
                                     "series:\n  - {entity: e, attribute: a, source: s}\n")
    catalog = load_catalog(tmp_path / "c.yaml")
    lake = ParquetLake(root=str(tmp_path / "lake"))
    dataset = lake.dataset("default", "raw", "s", "e_a")
    return catalog, lake, dataset


def test_closed_days_are_decoded_once_and_rewrites_are_seen(tmp_path: Path) -> None:
    catalog, lake, dataset = one_series(tmp_path)
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


def test_a_window_of_several_days_is_one_cached_join_sliced_exactly(tmp_path: Path) -> None:
    """Closed days are joined once under their versions together; any window over them is a slice equal to
    the uncached read, edges included ([start - carry, end)); rewriting one day rebuilds the join."""
    catalog, lake, dataset = one_series(tmp_path)
    first = datetime(2024, 3, 1, tzinfo=UTC)
    for d in range(4):
        day = first + timedelta(days=d)
        stamps = [day + timedelta(minutes=10 * i) for i in range(144)]
        lake.write(dataset, day.date(), pl.DataFrame({"ts": stamps, "value": [d * 1000.0 + i for i in range(144)]},
                                                     schema={"ts": pl.Datetime("us", "UTC"), "value": pl.Float64}))
    cache = PartitionCache()

    def read(start: datetime, end: datetime, carry: timedelta | None, use: PartitionCache | None) -> pl.DataFrame:
        (lazy,) = read_many(lake, catalog, catalog.series, start=start, end=end, carry=carry, cache=use,
                            today=date(2024, 3, 10))
        return lazy.collect()

    windows = [(first + timedelta(hours=1), first + timedelta(days=3, minutes=20), timedelta(minutes=10)),
               (first + timedelta(days=1), first + timedelta(days=3), timedelta(0)),  # edges on readings
               (first + timedelta(hours=5, minutes=3), first + timedelta(days=3, hours=7, minutes=1), None)]
    for start, end, carry in windows:
        want = read(start, end, carry, None)
        assert want.height > 0 and read(start, end, carry, cache).equals(want)
        hits = cache.hits
        assert read(start, end, carry, cache).equals(want)
        assert cache.hits == hits + 1  # the join of its days, in one lookup
    time.sleep(0.01)
    lake.write(dataset, date(2024, 3, 2), frame(7.0))  # one day of the join rewritten
    start, end, carry = windows[1]
    got = read(start, end, carry, cache)
    assert got.equals(read(start, end, carry, None))
    assert got.filter(pl.col("ts") < datetime(2024, 3, 3, tzinfo=UTC))["value"].unique().to_list() == [7.0]


def test_a_read_never_changes_a_frame_the_cache_holds(tmp_path: Path) -> None:
    """Cached frames are shared by every request thread: a read hands out the frame (or a slice) as it is
    and flags `ts` sorted on a new frame, never on the one kept."""
    catalog, lake, dataset = one_series(tmp_path)
    lake.write(dataset, DAY, frame(1.0))
    cache = PartitionCache()
    kept = frame(1.0)  # as another reader left it: `ts` not flagged
    cache.put(lake.partition(dataset, DAY), lake.versions(dataset, [DAY])[DAY], kept)
    window = {"start": datetime(2024, 3, 2, tzinfo=UTC), "end": datetime(2024, 3, 3, tzinfo=UTC),
              "carry": timedelta(0), "cache": cache, "today": date(2024, 3, 10)}
    (got,) = read_frames(lake, catalog, catalog.series, **window)  # type: ignore[arg-type]
    assert cache.hits == 1 and got.equals(kept)
    assert kept["ts"].flags["SORTED_ASC"] is False
