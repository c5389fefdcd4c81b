"""The compiled kernels against numpy on sorted stamps: searches from any start and guess, carrying, reducing;
and the thread fan-out (order kept, parallel above the threshold, usable after a fork)."""

from __future__ import annotations

import itertools
import os
import signal
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from datahub_assets.engine import kernels

stamps = arrays(np.int64, st.integers(0, 200), elements=st.integers(-50, 50)).map(np.sort)


@given(ts=stamps, x=st.integers(-60, 60), lo_frac=st.floats(0, 1), guess=st.integers(0, 300))
def test_searches_find_the_first_stamp_after_x(ts: np.ndarray, x: int, lo_frac: float, guess: int) -> None:
    want = int(np.searchsorted(ts, x, side="right"))
    lo = int(lo_frac * want)  # any start at or before the answer (the kernels' precondition)
    assert kernels.after(ts, lo, x) == want
    assert kernels.near(ts, lo, x, guess) == want
    values = np.zeros(ts.size)
    assert kernels.scan(ts, lo, x, values, guess, True) == want  # any reach: blocks, the block's count, then a gallop


def bursts(seed: int, n: int) -> np.ndarray:
    """Unique sorted stamps with every kind of step: bursts 1 apart, regular runs, and long silences."""
    rng = np.random.default_rng(seed)
    gaps = rng.choice([1, 7, 60, 5_000], size=n, p=[0.5, 0.3, 0.17, 0.03])
    return np.cumsum(gaps * rng.integers(1, 3, size=n)).astype(np.int64)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("step", [50, 2_000, 20_000, 2_000_000])
def test_kernels_match_numpy_on_long_series_at_every_density(seed: int, step: int) -> None:
    """Thousands of readings per cell down to many cells per reading: the scanning and the galloping loops,
    each search's gallop past a scan's reach included, give numpy's answers."""
    ts = bursts(seed, 50_000)
    values = np.random.default_rng(seed).normal(size=ts.size)
    grid = np.arange(ts[0] - 10 * step, ts[-1] + 10 * step, step, dtype=np.int64)
    out, codes = np.empty(grid.size), np.empty(grid.size, dtype=np.uint8)
    kernels.carry(grid, ts, values, -1, out, codes)
    i = np.searchsorted(ts, grid, side="right") - 1
    assert np.array_equal(codes == kernels.MISSING, i < 0)
    assert np.array_equal(out[i >= 0], values[i[i >= 0]])
    bounds = np.searchsorted(ts, grid, side="left")
    for method, want in (("sum", np.add.reduceat), ("min", np.minimum.reduceat), ("max", np.maximum.reduceat)):
        sums, counts = np.empty(grid.size - 1), np.empty(grid.size - 1, dtype=np.int64)
        kernels.reduce(grid, ts, values, kernels.REDUCERS[method], sums, counts)
        assert np.array_equal(counts, np.diff(bounds))
        full = counts > 0
        np.testing.assert_allclose(sums[full], want(values, bounds[:-1][full]), rtol=1e-12, atol=1e-9)


@given(ts=stamps, grid=stamps, tolerance=st.integers(-1, 30))
def test_carry_matches_searchsorted(ts: np.ndarray, grid: np.ndarray, tolerance: int) -> None:
    ts = np.unique(ts)
    values = np.arange(ts.size, dtype=np.float64) * 1.5
    out = np.empty(grid.size)
    codes = np.empty(grid.size, dtype=np.uint8)
    kernels.carry(grid, ts, values, tolerance, out, codes)
    i = np.searchsorted(ts, grid, side="right") - 1
    ok = (i >= 0) & ((tolerance < 0) | (grid - ts[np.maximum(i, 0)] <= tolerance)) if ts.size else i >= 0
    assert np.array_equal(codes == kernels.MISSING, ~ok)
    assert np.array_equal(out[ok], values[i[ok]])
    exact = ok & (ts[np.maximum(i, 0)] == grid) if ts.size else ok
    assert np.array_equal(codes[ok] == kernels.MEASURED, exact[ok])


@pytest.mark.parametrize("method", sorted(kernels.REDUCERS))
@given(ts=stamps, edges=arrays(np.int64, st.integers(1, 30), elements=st.integers(-60, 60)).map(np.sort),
       seed=st.integers(0, 2**32 - 1))
def test_reduce_matches_numpy(method: str, ts: np.ndarray, edges: np.ndarray, seed: int) -> None:
    values = np.random.default_rng(seed).normal(size=ts.size) * 1e3
    out = np.empty(edges.size - 1)
    counts = np.empty(edges.size - 1, dtype=np.int64)
    kernels.reduce(edges, ts, values, kernels.REDUCERS[method], out, counts)
    bounds = np.searchsorted(ts, edges, side="left")
    assert np.array_equal(counts, np.diff(bounds))
    for k, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        if hi == lo:
            continue
        part = values[lo:hi]
        want = {"mean": part.mean(), "min": part.min(), "max": part.max(), "sum": part.sum(), "first": part[0],
                "last": part[-1], "count": float(hi - lo)}[method]
        assert out[k] == pytest.approx(want, rel=1e-12, abs=1e-9)


def test_each_keeps_order_and_uses_threads_above_the_threshold() -> None:
    seen: set[str] = set()

    def name(i: int) -> int:
        seen.add(threading.current_thread().name)
        return i * i

    assert kernels.each(name, list(range(8)), readings=10) == [i * i for i in range(8)]
    assert seen == {threading.current_thread().name}
    assert kernels.each(name, list(range(8)), readings=kernels.PARALLEL_FROM) == [i * i for i in range(8)]
    if kernels.cores() > 1:
        assert any(n.startswith("datahub-kernels") for n in seen)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_each_works_in_a_forked_child() -> None:
    kernels.each(abs, [-1, -2], readings=kernels.PARALLEL_FROM)  # the parent's pool exists
    pid = os.fork()
    if pid == 0:  # the child: its pool must be new, or map would wait forever on threads it does not have
        signal.alarm(20)
        os._exit(0 if kernels.each(abs, [-1, -2], readings=kernels.PARALLEL_FROM) == [1, 2] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
