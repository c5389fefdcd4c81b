"""align: locf with tolerance, bucket aggregates, `raw`, column order (DESIGN section 6), against a naive loop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, cast
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from datahub_assets.engine.align import (
    AGGREGATES,
    DEFAULT,
    Method,
    Tolerance,
    align,
    carry_forward,
    carry_in,
)
from datahub_assets.engine.buckets import window
from datahub_assets.engine.grid import count_grid, default_tolerance
from datahub_assets.engine.schema import TS, TS_DTYPE, clean
from tests.datahub_assets.engine.reference import (
    EPOCH,
    at,
    frame,
    ref_aggregate,
    ref_aggregate_by_label,
    ref_bucket_labels,
    ref_default_tolerance,
    ref_duration_grid,
    ref_locf,
    ref_locf_loop,
    ref_union,
    ref_window,
    series,
)

S = timedelta(seconds=1)
MIN = timedelta(minutes=1)
H = timedelta(hours=1)


def run(*args: Any, **kwargs: Any) -> pl.DataFrame:
    return align(*args, **kwargs).collect()


def grid_of(*seconds: int) -> pl.Series:
    return pl.Series(TS, [at(s) for s in seconds], dtype=TS_DTYPE)


# --- locf: the worked example and its edges ---------------------------------------------------------------

EXAMPLE = [(5, 1.0), (25, 2.0)]
EXAMPLE_GRID = [0, 10, 20, 30, 1000]


def test_worked_example_no_limit() -> None:
    out = carry_forward(grid_of(*EXAMPLE_GRID), [clean(series(EXAMPLE))], ["x"], tolerance=None).collect()
    assert_frame_equal(out, frame(EXAMPLE_GRID, {"x": [None, 1.0, 1.0, 2.0, 2.0]}))


def test_worked_example_tolerance_10s() -> None:
    out = carry_forward(grid_of(*EXAMPLE_GRID), [clean(series(EXAMPLE))], ["x"], tolerance=10 * S).collect()
    assert_frame_equal(out, frame(EXAMPLE_GRID, {"x": [None, 1.0, None, 2.0, None]}))


def test_tolerance_is_inclusive() -> None:
    obs = clean(series([(5, 1.0)]))
    out = carry_forward(grid_of(5, 14, 15, 16), [obs], ["x"], tolerance=10 * S).collect()
    assert_frame_equal(out, frame([5, 14, 15, 16], {"x": [1.0, 1.0, 1.0, None]}))


def test_tolerance_zero_takes_exact_stamps_only() -> None:
    obs = clean(series([(10, 1.0), (20, 2.0)]))
    out = carry_forward(grid_of(10, 15, 20), [obs], ["x"], tolerance=timedelta(0)).collect()
    assert_frame_equal(out, frame([10, 15, 20], {"x": [1.0, None, 2.0]}))


def test_null_before_first_observation_even_without_limit() -> None:
    obs = clean(series([(100, 1.0)]))
    out = run([obs], ["x"], start=at(0), end=at(200), resolution=50 * S, tolerance=None)
    assert_frame_equal(out, frame([0, 50, 100, 150], {"x": [None, None, 1.0, 1.0]}))


def test_locf_duration_grid_start_not_aligned_carries_in() -> None:
    # start 7 s: the grid is 10, 20, 30, 40; the observation at 3 s (before start) is carried in
    obs = clean(series([(3, 1.0), (25, 2.0), (45, 9.0)]))
    out = run([obs], ["x"], start=at(7), end=at(45), resolution=10 * S, tolerance=None)
    assert_frame_equal(out, frame([10, 20, 30, 40], {"x": [1.0, 1.0, 2.0, 2.0]}))


def test_locf_one_day_grid_is_utc_days() -> None:
    obs = clean(series([(0, 1.0), (86_400 + 3_600, 2.0), (2 * 86_400, 3.0)]))
    out = run([obs], ["x"], start=at(3_600), end=at(3 * 86_400 + 1), resolution=timedelta(days=1), tolerance=None)
    assert_frame_equal(out, frame([86_400, 2 * 86_400, 3 * 86_400], {"x": [1.0, 3.0, 3.0]}))


def test_tolerance_none_carries_from_however_old() -> None:
    obs = clean(series([(-10 * 365 * 86_400, 7.0)]))  # ten years before the window
    out = run([obs], ["x"], start=at(0), end=at(120), resolution=MIN, tolerance=None)
    assert_frame_equal(out, frame([0, 60], {"x": [7.0, 7.0]}))


@pytest.mark.parametrize(
    ("resolution", "tolerance"),
    [
        (MIN, 15 * MIN),  # 4 min, clamped up to 15 min
        (5 * MIN, 20 * MIN),
        (H, 4 * H),
        (timedelta(days=1), 24 * H),  # 4 d, clamped down to 24 h
    ],
)
def test_default_tolerance_applied_by_align(resolution: timedelta, tolerance: timedelta) -> None:
    assert default_tolerance(resolution) == tolerance
    step = int(resolution.total_seconds())
    tol = int(tolerance.total_seconds())
    # one observation exactly `tol` (rounded down to the grid) before a cell, and one a step later
    obs = clean(series([(0, 1.0)]))
    out = run([obs], ["x"], start=at(0), end=at(tol + 2 * step), resolution=resolution)
    times = ref_duration_grid(0, tol + 2 * step, step)
    expected = [1.0 if t <= tol else None for t in times]
    assert expected[-1] is None  # the limit is hit inside the window
    assert_frame_equal(out, frame(times, {"x": expected}))
    explicit = run([obs], ["x"], start=at(0), end=at(tol + 2 * step), resolution=resolution, tolerance=tolerance)
    assert_frame_equal(out, explicit)


def test_point_count_grid_locf() -> None:
    obs = clean(series([(0, 1.0), (30, 2.0), (100, 3.0)]))
    out = run([obs], ["x"], start=at(0), end=at(100), resolution=5, tolerance=None)
    assert_frame_equal(out, frame([0, 25, 50, 75, 100], {"x": [1.0, 1.0, 2.0, 2.0, 3.0]}))


def test_point_count_grid_default_tolerance_is_four_steps_clamped() -> None:
    # 3 points over 4 h: step 2 h, default tolerance 8 h
    obs = clean(series([(-8 * 3_600, 1.0)]))
    out = run([obs], ["x"], start=at(0), end=at(4 * 3_600), resolution=3)
    assert_frame_equal(out, frame([0, 2 * 3_600, 4 * 3_600], {"x": [1.0, None, None]}))
    # 3 points over 60 s: step 30 s, 4 x 30 s is below the 15 min floor
    obs = clean(series([(-900, 1.0)]))
    out = run([obs], ["x"], start=at(0), end=at(60), resolution=3)
    assert_frame_equal(out, frame([0, 30, 60], {"x": [1.0, None, None]}))


@pytest.mark.parametrize("points", [1, 0, -1])
def test_point_count_grid_needs_two_points(points: int) -> None:
    with pytest.raises(ValueError):
        align([clean(series([(0, 1.0)]))], ["x"], start=at(0), end=at(10), resolution=points)


def test_columns_follow_names_order() -> None:
    a = clean(series([(0, 1.0)]))
    b = clean(series([(0, 2.0)]))
    c = clean(series([(0, 3.0)]))
    out = run([c, a, b], ["zeta", "alpha", "mid"], start=at(0), end=at(20), resolution=10 * S, tolerance=None)
    assert out.columns == [TS, "zeta", "alpha", "mid"]
    assert_frame_equal(out, frame([0, 10], {"zeta": [3.0, 3.0], "alpha": [1.0, 1.0], "mid": [2.0, 2.0]}))
    agg = run([c, a], ["zeta", "alpha"], start=at(0), end=at(20), resolution=10 * S, method="sum")
    assert agg.columns == [TS, "zeta", "alpha"]


def test_no_series_gives_the_grid_alone() -> None:
    out = run([], [], start=at(0), end=at(20), resolution=10 * S)
    assert_frame_equal(out, frame([0, 10], {}))


# --- aggregates ---------------------------------------------------------------------------------------------

# window [7, 45), buckets of 10 s: labels 0..40; the observations at 0, 45 and 47 lie outside the window
AGG_OBS = [(0, 100.0), (8, 1.0), (9, 3.0), (12, 5.0), (33, 2.0), (35, 7.0), (38, 4.0), (45, 100.0), (47, 100.0)]
AGG_LABELS = [0, 10, 20, 30, 40]
AGG_EXPECTED: dict[str, list[float | None]] = {
    "mean": [2.0, 5.0, None, 13 / 3, None],
    "min": [1.0, 5.0, None, 2.0, None],
    "max": [3.0, 5.0, None, 7.0, None],
    "sum": [4.0, 5.0, None, 13.0, None],
    "first": [1.0, 5.0, None, 2.0, None],
    "last": [3.0, 5.0, None, 4.0, None],
    "count": [2.0, 1.0, 0.0, 3.0, 0.0],
}


@pytest.mark.parametrize("method", sorted(AGGREGATES))
def test_aggregate_hand_case(method: Method) -> None:
    out = run([clean(series(AGG_OBS))], ["x"], start=at(7), end=at(45), resolution=10 * S, method=method)
    assert_frame_equal(out, frame(AGG_LABELS, {"x": AGG_EXPECTED[method]}))


def test_aggregate_table_matches_reference() -> None:
    for method, expected in AGG_EXPECTED.items():
        assert ref_aggregate(AGG_LABELS, 10, AGG_OBS, 7, 45, method) == pytest.approx(expected, nan_ok=True)


def test_aggregate_ignores_tolerance_and_empty_series() -> None:
    out = run([clean(series([]))], ["x"], start=at(0), end=at(30), resolution=10 * S, method="count", tolerance=None)
    assert_frame_equal(out, frame([0, 10, 20], {"x": [0.0, 0.0, 0.0]}))
    out = run([clean(series([]))], ["x"], start=at(0), end=at(30), resolution=10 * S, method="mean")
    assert_frame_equal(out, frame([0, 10, 20], {"x": [None, None, None]}))


def test_hourly_mean_on_utc_hours() -> None:
    obs = clean(series([(0, 1.0), (1_800, 3.0), (3_600, 10.0), (3 * 3_600 - 1, 20.0)]))
    out = run([obs], ["x"], start=at(0), end=at(3 * 3_600), resolution=H, method="mean")
    assert_frame_equal(out, frame([0, 3_600, 7_200], {"x": [2.0, 10.0, 20.0]}))


# --- raw ----------------------------------------------------------------------------------------------------


def test_raw_union_of_stamps_each_carried_with_tolerance() -> None:
    a = clean(series([(0, 1.0), (10, 2.0), (100, 3.0)]))
    b = clean(series([(5, 10.0), (50, 20.0)]))
    out = run([a, b], ["a", "b"], start=at(0), end=at(100), resolution="raw", tolerance=20 * S)
    assert_frame_equal(out, frame([0, 5, 10, 50], {"a": [1.0, 1.0, 2.0, None], "b": [None, 10.0, 10.0, 20.0]}))


def test_raw_carries_in_from_before_start() -> None:
    a = clean(series([(0, 1.0), (10, 2.0)]))
    b = clean(series([(5, 10.0)]))
    out = run([a, b], ["a", "b"], start=at(3), end=at(100), resolution="raw", tolerance=None)
    assert_frame_equal(out, frame([5, 10], {"a": [1.0, 2.0], "b": [10.0, 10.0]}))


@pytest.mark.parametrize(
    ("cadences", "expected_a"),
    [
        ((), [1.0, None, None]),  # 4 x 0 clamped up to 15 min
        ((5 * MIN, 10 * MIN), [1.0, 1.0, None]),  # 4 x 10 min = 40 min
        ((H,), [1.0, 1.0, 1.0]),  # 4 h
    ],
)
def test_raw_default_tolerance_from_largest_cadence(cadences: tuple[timedelta, ...], expected_a: list[float | None]
                                                    ) -> None:
    a = clean(series([(0, 1.0)], unit=MIN))
    b = clean(series([(20, 5.0), (60, 6.0)], unit=MIN))
    out = run([a, b], ["a", "b"], start=at(0), end=at(7_200), resolution="raw", cadences=cadences)
    assert_frame_equal(out, frame([0, 20, 60], {"a": expected_a, "b": [None, 5.0, 6.0]}, unit=MIN))


def test_raw_needs_locf() -> None:
    with pytest.raises(ValueError):
        align([clean(series([(0, 1.0)]))], ["x"], start=at(0), end=at(10), resolution="raw", method="mean")


# --- arguments --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"resolution": True},
        {"resolution": "1h"},
        {"resolution": 1.5},
        {"resolution": timedelta(0)},
        {"resolution": 10 * S, "method": "median"},
        {"resolution": 10 * S, "tolerance": -S},
        {"resolution": 10 * S, "end": at(0)},
    ],
)
def test_align_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"start": at(0), "end": at(100), **kwargs}
    with pytest.raises(ValueError):
        align([clean(series([(0, 1.0)]))], ["x"], **args)


@pytest.mark.parametrize("names", [["x"], ["x", "x"], ["ts", "x"]])
def test_align_rejects_bad_names(names: list[str]) -> None:
    frames = [clean(series([(0, 1.0)])), clean(series([(0, 2.0)]))]
    with pytest.raises(ValueError):
        align(frames, names, start=at(0), end=at(100), resolution=10 * S)


@pytest.mark.parametrize(
    ("tolerance", "resolution", "cadences", "expected"),
    [
        (DEFAULT, H, (), 4 * H),
        (DEFAULT, MIN, (), 15 * MIN),
        (None, H, (), None),
        (2 * H, MIN, (), 2 * H),
        (DEFAULT, "raw", (10 * MIN, 5 * MIN), 40 * MIN),
        (DEFAULT, "raw", (), 15 * MIN),
        (None, "raw", (H,), None),
    ],
)
def test_carry_in(tolerance: Tolerance, resolution: Any, cadences: tuple[timedelta, ...],
                  expected: timedelta | None) -> None:
    assert carry_in(tolerance, resolution, cadences) == expected


@pytest.mark.parametrize("tolerance", [DEFAULT, None, 2 * H])
def test_carry_in_point_count_reads_at_least_the_tolerance(tolerance: Tolerance) -> None:
    # the step of a point grid depends on the window, which carry_in does not see: it may read more, never less
    got = carry_in(tolerance, 24)
    assert got is None or (isinstance(tolerance, timedelta) and got >= tolerance)


def test_window_with_fixed_offset_zone_is_utc() -> None:
    obs = clean(series([(0, 1.0), (3_000, 2.0), (4_000, 3.0)]))
    plus2 = timezone(timedelta(hours=2))
    start, end = datetime(1970, 1, 1, 2, tzinfo=plus2), datetime(1970, 1, 1, 4, tzinfo=plus2)
    for method, resolution in (("locf", H), ("mean", H), ("locf", "raw")):
        expected = run([obs], ["x"], start=at(0), end=at(7_200), resolution=resolution, method=method)
        assert_frame_equal(run([obs], ["x"], start=start, end=end, resolution=resolution, method=method), expected)


@pytest.mark.parametrize("zone", [None, ZoneInfo("Europe/Berlin")], ids=["naive", "berlin"])
@pytest.mark.parametrize(("method", "resolution"), [("mean", H), ("locf", "raw")], ids=["mean", "raw"])
def test_window_in_any_zone_equals_utc_window(zone: ZoneInfo | None, method: Method, resolution: Any) -> None:
    obs = clean(series([(0, 1.0), (3_000, 2.0), (4_000, 3.0)]))
    start, end = datetime(1970, 1, 1, 0), datetime(1970, 1, 1, 2)
    if zone is not None:  # the same instants, written in Berlin time (UTC+1 in January)
        start, end = datetime(1970, 1, 1, 1, tzinfo=zone), datetime(1970, 1, 1, 3, tzinfo=zone)
    expected = run([obs], ["x"], start=at(0), end=at(7_200), resolution=resolution, method=method)
    assert_frame_equal(run([obs], ["x"], start=start, end=end, resolution=resolution, method=method), expected)


def test_locf_window_in_any_zone_equals_utc_window() -> None:
    obs = clean(series([(0, 1.0), (3_000, 2.0), (4_000, 3.0)]))
    expected = run([obs], ["x"], start=at(0), end=at(7_200), resolution=H)
    naive = run([obs], ["x"], start=datetime(1970, 1, 1), end=datetime(1970, 1, 1, 2), resolution=H)
    berlin = ZoneInfo("Europe/Berlin")
    zoned = run([obs], ["x"], start=datetime(1970, 1, 1, 1, tzinfo=berlin), end=datetime(1970, 1, 1, 3, tzinfo=berlin),
                resolution=H)
    assert_frame_equal(naive, expected)
    assert_frame_equal(zoned, expected)


# --- properties: against the naive reference ----------------------------------------------------------------

UNITS = st.sampled_from([S, MIN, H])
VALUES = st.integers(-1_000, 1_000).map(float)


@st.composite
def observations(draw: st.DrawFn, lo: int = -300, hi: int = 900, max_size: int = 25) -> list[tuple[int, float]]:
    """Sorted observations at unique whole times in [lo, hi]."""
    pairs = draw(st.dictionaries(st.integers(lo, hi), VALUES, max_size=max_size))
    return sorted(pairs.items())


@st.composite
def windows(draw: st.DrawFn) -> tuple[int, int, int]:
    """(start, end, step) in units: about -100..800, at most ~200 cells."""
    start = draw(st.integers(-100, 500))
    end = start + draw(st.integers(1, 300))
    step = draw(st.integers(max(1, (end - start) // 200), 60))
    return start, end, step


@st.composite
def cases(draw: st.DrawFn) -> tuple[tuple[int, int, int], list[list[tuple[int, float]]]]:
    """A window and 1..3 series observed around it (some before start, some at or after end), dense or sparse."""
    start, end, step = window = draw(windows())
    lo, hi = start - 2 * step - 20, end + 20
    size = draw(st.sampled_from([5, 40]))
    all_obs = draw(st.lists(observations(lo, hi, max_size=size), min_size=1, max_size=3))
    return window, all_obs


Case = tuple[tuple[int, int, int], list[list[tuple[int, float]]]]
TOLERANCES = st.one_of(st.none(), st.just(DEFAULT), st.integers(0, 100))


def frames_of(all_obs: Sequence[list[tuple[int, float]]], unit: timedelta) -> tuple[list[pl.LazyFrame], list[str]]:
    names = [f"s{i}" for i in reversed(range(len(all_obs)))]  # names not in sorted order on purpose
    return [clean(series(obs, unit=unit)) for obs in all_obs], names


def engine_tolerance(tol: int | object | None, unit: timedelta) -> Tolerance:
    if tol is None or tol is DEFAULT:
        return cast(Tolerance, tol)
    return cast(int, tol) * unit


def reference_tolerance(tol: int | object | None, step: timedelta, unit: timedelta) -> float | None:
    """The tolerance in units (a fraction when the default clamp is not a whole number of units)."""
    if tol is None:
        return None
    if tol is DEFAULT:
        return ref_default_tolerance(step) / unit
    return float(cast(int, tol))


def assert_grouped_equals_per_series(out: pl.DataFrame, frames: list[pl.LazyFrame], names: list[str],
                                     **kwargs: Any) -> None:
    for f, name in zip(frames, names, strict=True):
        alone = run([f], [name], **kwargs)
        assert_frame_equal(out.select(TS, name), alone)


def assert_output_grid(out: pl.DataFrame, names: list[str]) -> None:
    assert out.columns == [TS, *names]
    ts = out.get_column(TS)
    assert ts.dtype == TS_DTYPE
    assert ts.is_sorted()
    assert ts.n_unique() == out.height


@given(case=cases(), tol=TOLERANCES, unit=UNITS)
def test_locf_matches_reference(case: Case, tol: int | object | None, unit: timedelta) -> None:
    (start, end, step), all_obs = case
    frames, names = frames_of(all_obs, unit)
    kwargs: dict[str, Any] = {"start": EPOCH + start * unit, "end": EPOCH + end * unit, "resolution": step * unit,
                              "tolerance": engine_tolerance(tol, unit)}
    out = run(frames, names, **kwargs)
    assert_output_grid(out, names)
    grid = ref_duration_grid(start, end, step)
    ref_tol = reference_tolerance(tol, step * unit, unit)
    expected = frame(grid, {n: ref_locf(grid, obs, ref_tol) for n, obs in zip(names, all_obs, strict=True)},
                     unit=unit)
    assert_frame_equal(out, expected)
    assert_grouped_equals_per_series(out, frames, names, **kwargs)


@given(obs=observations(lo=-30, hi=60, max_size=12), grid=st.lists(st.integers(-40, 70), unique=True, max_size=12),
       tol=st.one_of(st.none(), st.integers(0, 30)))
def test_reference_locf_agrees_with_plain_scan(obs: list[tuple[int, float]], grid: list[int], tol: int | None
                                               ) -> None:
    """The bisect reference used on big inputs equals the plainest possible loop."""
    grid = sorted(grid)
    assert ref_locf(grid, obs, tol) == ref_locf_loop(grid, obs, tol)


@given(case=cases(), method=st.sampled_from(sorted(AGGREGATES)), unit=UNITS)
def test_aggregate_matches_reference(case: Case, method: Method, unit: timedelta) -> None:
    (start, end, step), all_obs = case
    frames, names = frames_of(all_obs, unit)
    kwargs: dict[str, Any] = {"start": EPOCH + start * unit, "end": EPOCH + end * unit, "resolution": step * unit,
                              "method": method}
    out = run(frames, names, **kwargs)
    assert_output_grid(out, names)
    labels = ref_bucket_labels(start, end, step)
    assert labels[0] <= start < labels[0] + step
    expected = frame(labels, {n: ref_aggregate(labels, step, obs, start, end, method)
                              for n, obs in zip(names, all_obs, strict=True)}, unit=unit)
    assert_frame_equal(out, expected)
    assert_grouped_equals_per_series(out, frames, names, **kwargs)


@given(case=cases(), points=st.integers(2, 60), tol=st.one_of(st.none(), st.integers(0, 100)), unit=UNITS)
def test_point_count_locf_matches_reference(case: Case, points: int, tol: int | None, unit: timedelta) -> None:
    (start, end, _), all_obs = case
    length = end - start
    frames, names = frames_of(all_obs, unit)
    lo, hi = EPOCH + start * unit, EPOCH + (start + length) * unit
    kwargs: dict[str, Any] = {"start": lo, "end": hi, "resolution": points, "tolerance": engine_tolerance(tol, unit)}
    out = run(frames, names, **kwargs)
    assert_output_grid(out, names)
    # the grid in microseconds: floor(i * span / (n - 1)) after start, both ends included
    unit_us = unit // timedelta(microseconds=1)
    span = length * unit_us
    grid_us = [start * unit_us + (i * span) // (points - 1) for i in range(points)]
    obs_us = [[(t * unit_us, v) for t, v in obs] for obs in all_obs]
    tol_us = None if tol is None else tol * unit_us
    expected = frame(grid_us, {n: ref_locf(grid_us, obs, tol_us) for n, obs in zip(names, obs_us, strict=True)},
                     unit=timedelta(microseconds=1))
    assert_frame_equal(out, expected)
    assert_frame_equal(out.select(TS), count_grid(lo, hi, points).to_frame())
    assert_grouped_equals_per_series(out, frames, names, **kwargs)


@given(case=cases(), tol=TOLERANCES, unit=UNITS, cadences=st.lists(st.integers(1, 400), max_size=3))
def test_raw_matches_reference(case: Case, tol: int | object | None, unit: timedelta, cadences: list[int]) -> None:
    (start, end, _), all_obs = case
    frames, names = frames_of(all_obs, unit)
    cadence_steps = [c * MIN for c in cadences]
    out = run(frames, names, start=EPOCH + start * unit, end=EPOCH + end * unit, resolution="raw",
              tolerance=engine_tolerance(tol, unit), cadences=cadence_steps)
    assert_output_grid(out, names)
    grid = ref_union(all_obs, start, end)
    ref_tol = reference_tolerance(tol, max(cadence_steps, default=timedelta(0)), unit)
    expected = frame(grid, {n: ref_locf(grid, obs, ref_tol) for n, obs in zip(names, all_obs, strict=True)},
                     unit=unit)
    assert_frame_equal(out, expected)
    # each column is that series alone carried onto the shared grid
    grid_series = out.get_column(TS)
    for f, name in zip(frames, names, strict=True):
        tolerance = ref_tol * unit if ref_tol is not None else None
        alone = carry_forward(grid_series, [f], [name], tolerance=tolerance).collect()
        assert_frame_equal(out.select(TS, name), alone)


@given(case=cases(), points=st.integers(2, 60), method=st.sampled_from(sorted(AGGREGATES)), unit=UNITS)
def test_point_count_aggregate_matches_reference(case: Case, points: int, method: Method, unit: timedelta) -> None:
    """Buckets of a point grid: an observation of [start, end) belongs to the greatest grid point <= its ts."""
    (start, end, _), all_obs = case
    frames, names = frames_of(all_obs, unit)
    lo, hi = EPOCH + start * unit, EPOCH + end * unit
    kwargs: dict[str, Any] = {"start": lo, "end": hi, "resolution": points, "method": method}
    out = run(frames, names, **kwargs)
    assert_output_grid(out, names)
    unit_us = unit // timedelta(microseconds=1)
    span = (end - start) * unit_us
    grid_us = [start * unit_us + (i * span) // (points - 1) for i in range(points)]
    obs_us = [[(t * unit_us, v) for t, v in obs] for obs in all_obs]
    expected = frame(grid_us, {n: ref_aggregate_by_label(grid_us, obs, start * unit_us, end * unit_us, method)
                               for n, obs in zip(names, obs_us, strict=True)}, unit=timedelta(microseconds=1))
    assert_frame_equal(out, expected)
    assert_grouped_equals_per_series(out, frames, names, **kwargs)


def test_point_count_aggregate_hand_case() -> None:
    # points 0, 25, 50, 75, 100 over [0, 100): the point at 100 (= end) never holds an observation
    obs = clean(series([(-5, 9.0), (0, 1.0), (24, 3.0), (25, 5.0), (80, 7.0), (100, 9.0)]))
    out = run([obs], ["x"], start=at(0), end=at(100), resolution=5, method="mean")
    assert_frame_equal(out, frame([0, 25, 50, 75, 100], {"x": [2.0, 5.0, None, 7.0, None]}))
    out = run([obs], ["x"], start=at(0), end=at(100), resolution=5, method="count")
    assert_frame_equal(out, frame([0, 25, 50, 75, 100], {"x": [2.0, 1.0, 0.0, 1.0, 0.0]}))


def test_point_grid_finer_than_a_microsecond_repeats_labels_and_their_buckets() -> None:
    """5 points over [0, 2 us) floor to 0, 0, 1, 1, 2 us: a repeated label holds its bucket each time."""
    us = timedelta(microseconds=1)
    obs = clean(series([(0, 1.0), (1, 3.0)], unit=us))
    out = run([obs], ["x"], start=EPOCH, end=EPOCH + 2 * us, resolution=5, method="mean")
    assert_frame_equal(out, frame([0, 0, 1, 1, 2], {"x": [1.0, 1.0, 3.0, 3.0, None]}, unit=us))


@given(obs=observations(lo=-50, hi=150, max_size=40), start=st.integers(-60, 160), length=st.integers(1, 100))
def test_window_is_the_rows_inside(obs: list[tuple[int, float]], start: int, length: int) -> None:
    end = start + length
    out = window(clean(series(obs)), start=at(start), end=at(end)).collect()
    assert_frame_equal(out, series(ref_window(obs, start, end)).collect())
    assert out.get_column(TS).flags["SORTED_ASC"] or out.height <= 1


def test_bucket_sum_is_exact_after_a_huge_reading() -> None:
    """Each bucket is added up on its own: a huge early reading does not cost later buckets their precision
    (as differences of one running sum would)."""
    obs = clean(series([(0, 1e20), (10, 1.0), (11, 2.0), (20, 0.1), (21, 0.2)]))
    out = run([obs], ["x"], start=at(0), end=at(30), resolution=10 * S, method="sum")
    assert out.get_column("x").to_list() == [1e20, 3.0, 0.1 + 0.2]
