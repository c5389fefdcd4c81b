"""fill: quality codes of every cell and linear filling (DESIGN section 9b), against the naive reference."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from datahub_assets.engine.align import AGGREGATES, Method, align, carry_in, carry_out
from datahub_assets.engine.fill import QUALITY_DTYPE, quality_name
from datahub_assets.engine.schema import TS, TS_DTYPE, clean
from tests.datahub_assets.engine.reference import (
    EPOCH,
    MISSING,
    at,
    frame,
    ref_aggregate,
    ref_bucket_codes,
    ref_bucket_labels,
    ref_duration_grid,
    ref_linear,
    ref_locf,
    ref_locf_codes,
    ref_union,
    series,
)
from tests.datahub_assets.engine.test_align import (
    TOLERANCES,
    UNITS,
    Case,
    cases,
    engine_tolerance,
    frames_of,
    reference_tolerance,
)

S = timedelta(seconds=1)
H = timedelta(hours=1)


def run(*args: Any, **kwargs: Any) -> pl.DataFrame:
    return align(*args, **kwargs).collect()


def with_codes(times: list[int], columns: dict[str, tuple[list[float | None], list[int]]],
               unit: timedelta = S) -> pl.DataFrame:
    """An expected output with quality: `ts`, then each value column followed by its quality column."""
    out = frame(times, {name: values for name, (values, _) in columns.items()}, unit=unit)
    codes = [pl.Series(quality_name(name), c, dtype=QUALITY_DTYPE) for name, (_, c) in columns.items()]
    ordered = [TS]
    for name in columns:
        ordered += [name, quality_name(name)]
    return out.with_columns(codes).select(ordered)


# --- hand cases -----------------------------------------------------------------------------------------------


def test_locf_codes_worked_example() -> None:
    # grid 0, 10, 20, 30, 40; readings at 5, 20, 25; tolerance 10 s
    obs = clean(series([(5, 1.0), (20, 2.0), (25, 3.0)]))
    out = run([obs], ["x"], start=at(0), end=at(50), resolution=10 * S, tolerance=10 * S, quality=True)
    expected = with_codes([0, 10, 20, 30, 40], {"x": ([None, 1.0, 2.0, 3.0, None], [3, 1, 0, 1, 3])})
    assert_frame_equal(out, expected)


def test_quality_columns_follow_each_value_column() -> None:
    a, b = clean(series([(0, 1.0)])), clean(series([(10, 2.0)]))
    out = run([a, b], ["b", "a"], start=at(0), end=at(20), resolution=10 * S, tolerance=None, quality=True)
    assert out.columns == [TS, "b", "b__quality", "a", "a__quality"]
    assert out.schema["a__quality"] == pl.UInt8


def test_quality_off_gives_the_values_alone() -> None:
    obs = clean(series([(5, 1.0), (20, 2.0)]))
    for kwargs in ({"resolution": 10 * S}, {"resolution": 10 * S, "method": "mean"}, {"resolution": "raw"},
                   {"resolution": 4}, {"resolution": 10 * S, "fill": "linear"}):
        plain = run([obs], ["x"], start=at(0), end=at(40), **kwargs)
        graded = run([obs], ["x"], start=at(0), end=at(40), quality=True, **kwargs)
        assert plain.columns == [TS, "x"]
        assert_frame_equal(graded.select(TS, "x"), plain)


def test_linear_hand_case() -> None:
    # readings 0 -> 0, 10 -> 10, 100 -> 0; grid every 5 s over [0, 120); max_gap 20 s
    obs = clean(series([(0, 0.0), (10, 10.0), (100, 0.0)]))
    grid = list(range(0, 120, 5))
    out = run([obs], ["x"], start=at(0), end=at(120), resolution=5 * S, fill="linear", max_gap=20 * S, quality=True)
    values: list[float | None] = [0.0, 5.0, 10.0] + [None] * 17 + [0.0, None, None, None]
    codes = [0, 2, 0] + [3] * 17 + [0, 3, 3, 3]
    assert_frame_equal(out, with_codes(grid, {"x": (values, codes)}))
    # without a limit the long gap is bridged too: 10 at 10 s down to 0 at 100 s
    out = run([obs], ["x"], start=at(0), end=at(120), resolution=5 * S, fill="linear", quality=True)
    assert out.get_column("x")[3] == pytest.approx(10.0 - 10.0 * 5 / 90)
    assert out.get_column("x__quality").to_list() == [0, 2, 0] + [2] * 17 + [0, 3, 3, 3]


def test_linear_gap_limit_is_inclusive_and_tolerance_does_not_apply() -> None:
    obs = clean(series([(0, 0.0), (20, 20.0)]))
    out = run([obs], ["x"], start=at(0), end=at(30), resolution=10 * S, fill="linear", max_gap=20 * S,
              tolerance=timedelta(0), quality=True)
    assert_frame_equal(out, with_codes([0, 10, 20], {"x": ([0.0, 10.0, 20.0], [0, 2, 0])}))
    out = run([obs], ["x"], start=at(0), end=at(30), resolution=10 * S, fill="linear", max_gap=19 * S)
    assert out.get_column("x").to_list() == [0.0, None, 20.0]


def test_linear_uses_readings_outside_the_window() -> None:
    obs = clean(series([(-10, 0.0), (30, 40.0)]))
    out = run([obs], ["x"], start=at(0), end=at(20), resolution=10 * S, fill="linear")
    assert out.get_column("x").to_list() == [10.0, 20.0]


@pytest.mark.parametrize("method", sorted(AGGREGATES))
def test_aggregate_codes(method: Method) -> None:
    obs = clean(series([(1, 1.0), (2, 5.0), (25, 3.0)]))
    out = run([obs], ["x"], start=at(0), end=at(30), resolution=10 * S, method=method, quality=True)
    expected = [0, 0, 0] if method == "count" else [0, MISSING, 0]
    assert out.get_column("x__quality").to_list() == expected


def test_point_count_aggregate_codes() -> None:
    obs = clean(series([(1, 1.0), (60, 3.0)]))
    out = run([obs], ["x"], start=at(0), end=at(90), resolution=4, method="max", quality=True)
    assert out.get_column("x").to_list() == [1.0, None, 3.0, None]
    assert out.get_column("x__quality").to_list() == [0, 3, 0, 3]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fill": "spline"},
        {"fill": "linear", "method": "mean"},
        {"max_gap": 10 * S},  # max_gap is for linear
        {"fill": "linear", "max_gap": timedelta(0)},
        {"fill": "linear", "max_gap": -S},
    ],
)
def test_fill_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        align([clean(series([(0, 1.0)]))], ["x"], start=at(0), end=at(100), resolution=10 * S, **kwargs)


def test_quality_names_must_not_collide() -> None:
    frames = [clean(series([(0, 1.0)])), clean(series([(0, 2.0)]))]
    with pytest.raises(ValueError):
        align(frames, ["x", "x__quality"], start=at(0), end=at(100), resolution=10 * S, quality=True)
    align(frames, ["x", "x__quality"], start=at(0), end=at(100), resolution=10 * S)  # fine without quality


def test_carry_in_and_out_for_linear() -> None:
    assert carry_in(None, 10 * S, fill="linear", max_gap=H) == H
    assert carry_in(None, 10 * S, fill="linear") is None
    assert carry_out("linear", H) == H
    assert carry_out("linear") is None
    assert carry_out() == timedelta(0)


# --- properties ---------------------------------------------------------------------------------------------


def assert_code_invariants(out: pl.DataFrame, names: list[str]) -> None:
    """Every value column has its quality column right after it; code 3 exactly where the value is null."""
    for name in names:
        i = out.columns.index(name)
        assert out.columns[i + 1] == quality_name(name)
        codes = out.get_column(quality_name(name))
        assert codes.dtype == QUALITY_DTYPE
        assert ((codes == MISSING) == out.get_column(name).is_null()).all()


def assert_measured_cells_are_readings(out: pl.DataFrame, name: str, obs: list[tuple[int, float]],
                                       unit: timedelta) -> None:
    readings = {EPOCH + t * unit: v for t, v in obs}
    for t, v, c in out.select(TS, name, quality_name(name)).iter_rows():
        if c == 0:
            assert readings.get(t) == v


@given(case=cases(), tol=TOLERANCES, unit=UNITS)
def test_locf_codes_match_reference(case: Case, tol: int | object | None, unit: timedelta) -> None:
    (start, end, step), all_obs = case
    frames, names = frames_of(all_obs, unit)
    kwargs: dict[str, Any] = {"start": EPOCH + start * unit, "end": EPOCH + end * unit, "resolution": step * unit,
                              "tolerance": engine_tolerance(tol, unit), "quality": True}
    out = run(frames, names, **kwargs)
    grid = ref_duration_grid(start, end, step)
    ref_tol = reference_tolerance(tol, step * unit, unit)
    expected = with_codes(grid, {n: (ref_locf(grid, obs, ref_tol), ref_locf_codes(grid, obs, ref_tol))
                                 for n, obs in zip(names, all_obs, strict=True)}, unit=unit)
    assert_frame_equal(out, expected)
    assert_code_invariants(out, names)
    for name, obs in zip(names, all_obs, strict=True):
        assert_measured_cells_are_readings(out, name, obs, unit)
        alone = run([frames[names.index(name)]], [name], **kwargs)
        assert_frame_equal(out.select(TS, name, quality_name(name)), alone)


@given(case=cases(), gap=st.one_of(st.none(), st.integers(1, 120)), unit=UNITS, raw=st.booleans())
def test_linear_matches_reference(case: Case, gap: int | None, unit: timedelta, raw: bool) -> None:
    (start, end, step), all_obs = case
    frames, names = frames_of(all_obs, unit)
    kwargs: dict[str, Any] = {"start": EPOCH + start * unit, "end": EPOCH + end * unit,
                              "resolution": "raw" if raw else step * unit, "fill": "linear",
                              "max_gap": None if gap is None else gap * unit, "quality": True}
    out = run(frames, names, **kwargs)
    grid = ref_union(all_obs, start, end) if raw else ref_duration_grid(start, end, step)
    expected = with_codes(grid, {n: ref_linear(grid, obs, gap) for n, obs in zip(names, all_obs, strict=True)},
                          unit=unit)
    assert_frame_equal(out, expected)
    assert_code_invariants(out, names)
    for name, obs in zip(names, all_obs, strict=True):
        assert_measured_cells_are_readings(out, name, obs, unit)
        stamps = [EPOCH + t * unit for t, _ in obs]
        for t, v, c in out.select(TS, name, quality_name(name)).iter_rows():
            if c == 2:  # between the neighbouring readings, in value as in time
                i = max(k for k, s in enumerate(stamps) if s < t)
                lo, hi = sorted((obs[i][1], obs[i + 1][1]))
                assert stamps[i] < t < stamps[i + 1]
                assert lo <= v <= hi
        alone = run([frames[names.index(name)]], [name], **kwargs)
        if not raw:
            assert_frame_equal(out.select(TS, name, quality_name(name)), alone)


@given(case=cases(), method=st.sampled_from(sorted(AGGREGATES)), unit=UNITS, points=st.one_of(st.none(),
                                                                                                  st.integers(2, 40)))
def test_aggregate_codes_match_reference(case: Case, method: Method, unit: timedelta, points: int | None) -> None:
    (start, end, step), all_obs = case
    frames, names = frames_of(all_obs, unit)
    out = run(frames, names, start=EPOCH + start * unit, end=EPOCH + end * unit,
              resolution=step * unit if points is None else points, method=method, quality=True)
    assert_code_invariants(out, names)
    values = run(frames, names, start=EPOCH + start * unit, end=EPOCH + end * unit,
                 resolution=step * unit if points is None else points, method="count")
    for name in names:
        counts = values.get_column(name).to_list()
        assert out.get_column(quality_name(name)).to_list() == ref_bucket_codes(counts, method)
    if points is None:
        labels = ref_bucket_labels(start, end, step)
        for name, obs in zip(names, all_obs, strict=True):
            counts = ref_aggregate(labels, step, obs, start, end, "count")
            assert out.get_column(quality_name(name)).to_list() == ref_bucket_codes(counts, method)


def test_codes_are_uint8_on_empty_grid() -> None:
    out = run([clean(series([]))], ["x"], start=at(0), end=at(20), resolution=10 * S, quality=True)
    assert out.schema == pl.Schema([(TS, TS_DTYPE), ("x", pl.Float64), ("x__quality", pl.UInt8)])
    assert out.get_column("x__quality").to_list() == [3, 3]
