"""downsample: min/max per bucket in time order, two rows per bucket (method "minmax" of align)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from datahub_assets.engine.align import align
from datahub_assets.engine.schema import TS, TS_DTYPE, clean
from tests.datahub_assets.engine.reference import (
    EPOCH,
    at,
    frame,
    ref_bucket_labels,
    ref_minmax,
    ref_pixel_starts,
    series,
)
from tests.datahub_assets.engine.test_align import UNITS, Case, cases, frames_of

S = timedelta(seconds=1)
US = timedelta(microseconds=1)
OBS = [(-3, 50.0), (1, 5.0), (3, 1.0), (12, 2.0), (14, 9.0), (15, 0.0), (33, 4.0), (40, 60.0)]


def run(*args: Any, **kwargs: Any) -> pl.DataFrame:
    return align(*args, method="minmax", **kwargs).collect()


def test_minmax_hand_case() -> None:
    # window [0, 40), buckets of 10 s: [0, 10) min 1 after max 5; [10, 20) max 9 before min 0; [20, 30) empty;
    # [30, 40) one reading; the readings at -3 s and 40 s lie outside the window
    out = run([clean(series(OBS))], ["x"], start=at(0), end=at(40), resolution=10 * S)
    expected = frame([0, 5, 10, 15, 20, 25, 30, 35], {"x": [5.0, 1.0, 9.0, 0.0, None, None, 4.0, 4.0]})
    assert_frame_equal(out, expected)


def test_minmax_bucket_count_splits_the_window() -> None:
    out = run([clean(series(OBS))], ["x"], start=at(0), end=at(40), resolution=4, quality=True)
    assert out.get_column(TS).to_list() == [at(s) for s in (0, 5, 10, 15, 20, 25, 30, 35)]
    assert out.get_column("x").to_list() == [5.0, 1.0, 9.0, 0.0, None, None, 4.0, 4.0]
    assert out.get_column("x__quality").to_list() == [0, 0, 0, 0, 3, 3, 0, 0]
    assert out.columns == [TS, "x", "x__quality"]


def test_minmax_each_series_in_its_own_order() -> None:
    up = clean(series([(1, 1.0), (2, 9.0)]))
    down = clean(series([(1, 9.0), (2, 1.0)]))
    out = run([up, down], ["up", "down"], start=at(0), end=at(10), resolution=10 * S)
    assert_frame_equal(out, frame([0, 5], {"up": [1.0, 9.0], "down": [9.0, 1.0]}))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"resolution": "raw"},
        {"resolution": 0},
        {"resolution": US},  # no room for the second row
        {"resolution": 30},  # 30 buckets of 2 rows in 40 us
        {"resolution": 10 * S, "fill": "linear"},
    ],
)
def test_minmax_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    end = at(40) if kwargs.get("resolution") != 30 else EPOCH + 40 * US
    with pytest.raises(ValueError):
        run([clean(series(OBS))], ["x"], start=at(0), end=end, **kwargs)


# --- properties ---------------------------------------------------------------------------------------------


def assert_extremes_in_time_order(out: pl.DataFrame, name: str, obs: list[tuple[int, float]],
                                  starts_us: list[int], ends_us: list[int], start_us: int, end_us: int,
                                  unit_us: int) -> None:
    """Every non-empty bucket's min and max are its two rows, in the order they occurred."""
    values = out.get_column(name).to_list()
    for k, (s, e) in enumerate(zip(starts_us, ends_us, strict=True)):
        inside = [(t, v) for t, v in obs if start_us <= t * unit_us < end_us and s <= t * unit_us < e]
        pair = values[2 * k: 2 * k + 2]
        if not inside:
            assert pair == [None, None]
            continue
        lo = min(inside, key=lambda p: (p[1], p[0]))
        hi = min(inside, key=lambda p: (-p[1], p[0]))
        assert pair == ([lo[1], hi[1]] if lo[0] <= hi[0] else [hi[1], lo[1]])


@given(case=cases(), unit=UNITS, pixels=st.one_of(st.none(), st.integers(1, 40)))
def test_minmax_matches_reference(case: Case, unit: timedelta, pixels: int | None) -> None:
    (start, end, step), all_obs = case
    unit_us = unit // US
    start_us, end_us = start * unit_us, end * unit_us
    if pixels is not None and end_us - start_us < 2 * pixels:
        pixels = None
    frames, names = frames_of(all_obs, unit)
    kwargs: dict[str, Any] = {"start": EPOCH + start * unit, "end": EPOCH + end * unit,
                              "resolution": step * unit if pixels is None else pixels}
    out = run(frames, names, **kwargs)
    if pixels is None:
        starts = [label * unit_us for label in ref_bucket_labels(start, end, step)]
        ends = [s + step * unit_us for s in starts]
    else:
        starts = ref_pixel_starts(start_us, end_us, pixels)
        ends = [*starts[1:], end_us]
    expected_cols = {}
    times: list[int] = []
    for name, obs in zip(names, all_obs, strict=True):
        obs_us = [(t * unit_us, v) for t, v in obs]
        times, expected_cols[name] = ref_minmax(starts, ends, obs_us, start_us, end_us)
    assert_frame_equal(out, frame(times, expected_cols, unit=US))
    # two rows per bucket, sorted and unique; each value a reading of the window
    assert out.height == 2 * len(starts)
    ts = out.get_column(TS)
    assert ts.dtype == TS_DTYPE and ts.is_sorted() and ts.n_unique() == out.height
    for name, obs in zip(names, all_obs, strict=True):
        inside = {v for t, v in obs if start <= t < end}
        assert set(out.get_column(name).drop_nulls().to_list()) <= inside
        assert_extremes_in_time_order(out, name, obs, starts, ends, start_us, end_us, unit_us)
        alone = run([frames[names.index(name)]], [name], **kwargs)
        assert_frame_equal(out.select(TS, name), alone)
    graded = run(frames, names, quality=True, **kwargs)
    for name in names:
        codes = graded.get_column(f"{name}__quality")
        assert ((codes == 3) == graded.get_column(name).is_null()).all()
        assert set(codes.to_list()) <= {0, 3}
