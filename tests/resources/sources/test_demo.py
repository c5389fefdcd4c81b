from __future__ import annotations

from datetime import UTC, datetime, timedelta

from resources.sources.base import SeriesRef
from resources.sources.demo import DemoSource

DAY = datetime(2024, 1, 1, tzinfo=UTC)


def test_deterministic_per_instant_and_series() -> None:
    source = DemoSource(name="sim", seed=1, cadence="1m")
    ref = SeriesRef("urn:demo:a", "x", "x")
    whole = source.read(ref, start=DAY, end=DAY + timedelta(days=1))
    assert whole.height == 1440 and whole["ts"].is_sorted() and whole["ts"][0] == DAY
    # Fetched in two halves, or again, the same instants get the same values.
    halves = [source.read(ref, start=DAY + timedelta(hours=h), end=DAY + timedelta(hours=h + 12)) for h in (0, 12)]
    assert whole.equals(halves[0].vstack(halves[1]))
    assert source.read(ref, start=DAY, end=DAY + timedelta(days=1)).equals(whole)
    other = source.read(SeriesRef("urn:demo:b", "x", "x"), start=DAY, end=DAY + timedelta(days=1))
    assert not other["value"].equals(whole["value"])
    reseeded = DemoSource(name="sim", seed=2, cadence="1m").read(ref, start=DAY, end=DAY + timedelta(days=1))
    assert not reseeded["value"].equals(whole["value"])


def test_window_is_half_open_and_epoch_aligned() -> None:
    source = DemoSource(name="sim", cadence="10m")
    frame = source.read(SeriesRef("e", "a", "a"), start=DAY + timedelta(minutes=5), end=DAY + timedelta(hours=1))
    assert [t.minute for t in frame["ts"]] == [10, 20, 30, 40, 50]
