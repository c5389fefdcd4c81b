"""Where the quality problems are (gap_spans, duplicate_stamps, backwards_steps, out_of_range) agrees with the
counts, and the robust anomaly scores (rolling median and MAD) flag what they should and nothing ahead."""

from __future__ import annotations

import math
from datetime import timedelta

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from datahub_assets.engine.anomaly import SCORE, anomalies, robust_scores
from datahub_assets.engine.quality import (
    COUNT,
    FROM,
    SECONDS,
    TO,
    backwards_steps,
    duplicate_stamps,
    gap_spans,
    out_of_range,
    quality,
)
from datahub_assets.engine.schema import TS, VALUE, clean
from tests.datahub_assets.engine.reference import at, series

VALUES = st.one_of(st.none(), st.just(math.nan), st.floats(-5, 5, allow_nan=False))
ROWS = st.lists(st.tuples(st.integers(0, 99), VALUES), max_size=30)


@given(rows=ROWS, gap=st.integers(1, 40), closed=st.booleans(), low=st.floats(-5, 0), high=st.floats(0, 5))
def test_places_match_the_counts(rows: list[tuple[int, float | None]], gap: int, closed: bool, low: float,
                                 high: float) -> None:
    lf = series(rows)
    window = {"start": at(0), "end": at(100)}
    c = quality(lf, **window, max_gap=timedelta(seconds=gap), minimum=low, maximum=high,
                closed=closed).collect().row(0, named=True)
    gaps = gap_spans(lf, **window, max_gap=timedelta(seconds=gap), closed=closed).collect()
    assert gaps.height == c["gaps"]
    assert (gaps[SECONDS] > gap).all() and (gaps[TO] > gaps[FROM]).all()
    dups = duplicate_stamps(lf).collect()
    assert int(dups[COUNT].sum()) - dups.height == c["duplicates"]
    assert backwards_steps(lf).collect().height == c["backwards"]
    outside = out_of_range(lf, minimum=low, maximum=high).collect()
    assert outside.height == c["out_of_range"]
    assert ((outside[VALUE] < low) | (outside[VALUE] > high)).all()


def test_gap_spans_name_both_ends_including_the_window_edges() -> None:
    spans = gap_spans(series([(30, 1.0), (40, 1.0), (90, 1.0)]), start=at(0), end=at(100),
                      max_gap=timedelta(seconds=20)).collect()
    assert spans.rows() == [(at(0), at(30), 30.0), (at(40), at(90), 50.0)]


def test_backwards_steps_name_the_stamp_before_and_after() -> None:
    steps = backwards_steps(series([(10, 1.0), (30, 2.0), (20, 3.0), (40, 4.0)])).collect()
    assert steps.rows() == [(at(30), at(20))]


def noisy(n: int, spike_at: int | None = None) -> pl.LazyFrame:
    values = [10.0 + (i * 7919 % 13) / 13 for i in range(n)]  # deterministic noise in [10, 11)
    if spike_at is not None:
        values[spike_at] = 40.0
    return clean(series([(60 * i, v) for i, v in enumerate(values)]))


def test_a_spike_is_flagged_and_quiet_noise_is_not() -> None:
    window = timedelta(hours=2)
    assert anomalies(noisy(300), window=window, threshold=5).collect().height == 0
    flagged = anomalies(noisy(300, spike_at=200), window=window, threshold=5).collect()
    assert flagged[TS].to_list() == [at(60 * 200)]


def test_scores_never_look_ahead() -> None:
    window = timedelta(hours=2)
    before = robust_scores(noisy(300), window=window).collect().head(200)
    after = robust_scores(noisy(300, spike_at=250), window=window).collect().head(200)
    assert before.equals(after)


def test_too_few_points_or_a_flat_window_give_no_score() -> None:
    few = robust_scores(noisy(11), window=timedelta(hours=2), min_points=12).collect()
    assert few[SCORE].null_count() == 11
    flat = robust_scores(clean(series([(60 * i, 5.0) for i in range(30)] + [(1800, 9.0)])),
                         window=timedelta(hours=2)).collect()
    assert flat[SCORE].null_count() == flat.height  # MAD 0: no evidence either way


def test_history_before_start_feeds_the_first_windows_but_is_not_flagged() -> None:
    lf = noisy(300, spike_at=50)
    flagged = anomalies(lf, window=timedelta(hours=2), threshold=5, start=at(60 * 100), end=at(60 * 300))
    assert flagged.collect().height == 0
    assert anomalies(lf, window=timedelta(hours=2), threshold=5).collect().height == 1
