"""Revision history: versions with the interval the platform held them, and `as_of` answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from datahub_assets.engine.revisions import HISTORY_SCHEMA, VALID_FROM, VALID_TO, as_of, first_history, revise
from datahub_assets.engine.schema import TS, VALUE

DAY = datetime(2024, 3, 1, tzinfo=UTC)
END = DAY + timedelta(days=1)


def at(hour: float) -> datetime:
    return DAY + timedelta(hours=hour)


def readings(*pairs: tuple[float, float | None]) -> pl.LazyFrame:
    return pl.LazyFrame({TS: [at(h) for h, _ in pairs], VALUE: [v for _, v in pairs]},
                        schema={TS: pl.Datetime("us", "UTC"), VALUE: pl.Float64})


def empty() -> pl.LazyFrame:
    return pl.LazyFrame(schema=HISTORY_SCHEMA)


def known(history: pl.LazyFrame, when: datetime) -> list[tuple[float, float]]:
    frame = as_of(history, when).collect()
    return [((t - DAY).total_seconds() / 3600, v) for t, v in frame.iter_rows()]


def test_a_value_revised_twice_gives_three_answers() -> None:
    t1, t2, t3 = DAY + timedelta(days=1, hours=1), DAY + timedelta(days=2), DAY + timedelta(days=3)
    history = revise(empty(), readings((1, 10.0), (2, 20.0)), learned_at=t1, start=DAY, end=END)
    history = revise(history, readings((1, 11.0), (2, 20.0)), learned_at=t2, start=DAY, end=END)
    history = revise(history, readings((1, 12.0), (2, 20.0)), learned_at=t3, start=DAY, end=END)
    assert known(history, t1) == [(1, 10.0), (2, 20.0)]
    assert known(history, t2 + timedelta(minutes=1)) == [(1, 11.0), (2, 20.0)]
    assert known(history, t3) == [(1, 12.0), (2, 20.0)]
    assert known(history, t1 - timedelta(seconds=1)) == []  # nothing was known before the first fetch
    frame = history.collect()
    assert frame.height == 4 and frame.filter(pl.col(VALID_TO).is_null()).height == 2


def test_a_blank_never_hides_a_real_value_and_a_missing_reading_was_removed() -> None:
    t1, t2 = at(30), at(40)
    history = revise(empty(), readings((1, 10.0), (2, 20.0), (3, 30.0)), learned_at=t1, start=DAY, end=END)
    history = revise(history, readings((1, None), (3, 30.0)), learned_at=t2, start=DAY, end=END)
    assert known(history, t2) == [(1, 10.0), (3, 30.0)]  # 1 blanked: still 10; 2 gone: removed at t2
    assert known(history, t1) == [(1, 10.0), (2, 20.0), (3, 30.0)]


def test_readings_outside_the_refetched_window_are_untouched() -> None:
    t1, t2 = at(30), at(40)
    history = revise(empty(), readings((1, 10.0), (20, 200.0)), learned_at=t1, start=DAY, end=END)
    history = revise(history, readings((20, 201.0)), learned_at=t2, start=at(19), end=END)  # an incremental fetch
    assert known(history, t2) == [(1, 10.0), (20, 201.0)]


def test_first_history_holds_what_was_stored() -> None:
    stored = readings((1, 1.0), (2, 2.0))
    history = first_history(stored, learned_at=at(30))
    assert known(history, at(30)) == [(1, 1.0), (2, 2.0)]
    assert history.collect_schema() == HISTORY_SCHEMA


values = st.one_of(st.none(), st.integers(-3, 3).map(float))


@given(st.lists(st.lists(st.tuples(st.integers(0, 23), values), max_size=12), min_size=1, max_size=5))
def test_as_of_each_fetch_is_that_fetch_with_blanks_filled_from_before(fetches: list[list[tuple[int, float | None]]]
                                                                      ) -> None:
    """A naive model: after each fetch, a stamp's known value is its last real value in that fetch, or, when
    that fetch delivered it only blank, what was known before; stamps the fetch lacks are gone."""
    history = empty()
    model: dict[float, float] = {}
    for i, fetch in enumerate(fetches):
        learned = DAY + timedelta(days=2 + i)
        history = revise(history, readings(*fetch), learned_at=learned, start=DAY, end=END).collect().lazy()
        delivered: dict[float, float | None] = {}
        for hour, value in fetch:  # last real value wins; a blank only where no real value came
            if value is not None or hour not in delivered:
                delivered[hour] = value if value is not None else delivered.get(hour)
        model = {h: (v if v is not None else model[h]) for h, v in delivered.items()
                 if v is not None or h in model}
        assert known(history, learned) == sorted(model.items())
    # Revising with the last fetch again changes nothing (idempotent).
    again = revise(history, readings(*fetches[-1]), learned_at=DAY + timedelta(days=30), start=DAY, end=END)
    assert_frame_equal(again.collect(), history.collect())
    assert history.collect().select(pl.col(VALID_FROM) <= pl.col(VALID_TO).fill_null(END + timedelta(days=99)))\
        .to_series().all()
