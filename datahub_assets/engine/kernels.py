"""Compiled kernels over sorted stamps: carrying readings onto a grid and reducing buckets (numba).

Stamps are int64 microseconds, sorted ascending (clean series, sorted grids); values are float64. Each kernel is
one forward pass: a galloping search moves from the previous position, so a grid of K cells over n readings
costs O(K log(n / K)) comparisons, and a bucket is a contiguous run of readings reduced in place. Kernels release
the GIL, so several series run on threads side by side. Pure: arrays in, arrays out.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TypeVar

import numba
import numpy as np
from numpy.typing import NDArray

MEASURED: Final = 0
CARRIED: Final = 1
MISSING: Final = 3

# Bucket reductions by number (a kernel takes the number, not a function: it stays cacheable on disk).
REDUCERS: Final = {"mean": 0, "min": 1, "max": 2, "sum": 3, "first": 4, "last": 5, "count": 6}

# Below this many readings in all, the series run one after the other (a thread hop costs more than it saves).
PARALLEL_FROM: Final = 1_000_000

_jit = numba.njit(nogil=True, cache=True, boundscheck=False)


@_jit
def bisect(ts: NDArray[np.int64], lo: int, hi: int, x: int) -> int:  # pragma: no cover - compiled
    """The first index in [lo, hi] with ts[i] > x, given ts[:lo] <= x and ts[hi] > x (or hi the end)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if ts[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_jit
def after(ts: NDArray[np.int64], lo: int, x: int) -> int:  # pragma: no cover - compiled
    """The first index i >= lo with ts[i] > x (all of ts[:lo] must be <= x): gallop, then bisect."""
    n = ts.shape[0]
    if lo >= n or ts[lo] > x:
        return lo
    step = 1
    hi = lo + 1
    while hi < n and ts[hi] <= x:
        lo = hi
        step *= 2
        hi = lo + step
    return bisect(ts, lo + 1, min(hi, n), x)


@_jit
def near(ts: NDArray[np.int64], lo: int, x: int, guess: int) -> int:  # pragma: no cover - compiled
    """`after(ts, lo, x)`, looked for first at lo + guess: on near-regular stamps the last step's length is a
    close guess, so a search touches one or two cache lines instead of every line between the two ends."""
    n = ts.shape[0]
    p = min(lo + guess, n)
    if p <= lo:
        return after(ts, lo, x)
    if ts[p - 1] <= x:
        return after(ts, p, x)
    hi = p - 1  # ts[hi] > x: gallop down to a reading <= x (or to lo), then bisect
    step = 1
    low = lo
    while hi - step >= lo:
        if ts[hi - step] <= x:
            low = hi - step + 1
            break
        hi -= step
        step *= 2
    return bisect(ts, low, hi, x)


@_jit
def carry(grid: NDArray[np.int64], ts: NDArray[np.int64], values: NDArray[np.float64], tolerance: int,
          out: NDArray[np.float64], codes: NDArray[np.uint8]) -> None:  # pragma: no cover - compiled
    """out[k]: the last reading with ts <= grid[k] and grid[k] - ts <= tolerance (tolerance < 0: any distance);
    codes[k]: MEASURED (a reading at grid[k]), CARRIED, or MISSING (out[k] undefined)."""
    j = 0
    guess = 1
    for k in range(grid.shape[0]):
        t = grid[k]
        moved = near(ts, j, t, guess)
        guess = max(moved - j, 1)
        j = moved
        if j > 0 and (tolerance < 0 or t - ts[j - 1] <= tolerance):
            out[k] = values[j - 1]
            codes[k] = MEASURED if ts[j - 1] == t else CARRIED
        else:
            codes[k] = MISSING


@numba.njit(nogil=True, cache=True, boundscheck=False, fastmath={"reassoc", "nsz", "contract"})
def reduce(edges: NDArray[np.int64], ts: NDArray[np.int64], values: NDArray[np.float64], reducer: int,
           out: NDArray[np.float64], counts: NDArray[np.int64]) -> None:  # pragma: no cover - compiled
    """Bucket k holds the readings with edges[k] <= ts < edges[k + 1]: counts[k] of them, reduced into out[k]
    (undefined where the count is 0). Sums may be reassociated (vectorized): equal to a plain sum within
    rounding."""
    i = after(ts, 0, edges[0] - 1)
    guess = 1
    for k in range(edges.shape[0] - 1):
        j = near(ts, i, edges[k + 1] - 1, guess)
        guess = max(j - i, 1)
        counts[k] = j - i
        if j > i:
            if reducer == 0 or reducer == 3:
                total = 0.0
                for m in range(i, j):
                    total += values[m]
                out[k] = total / (j - i) if reducer == 0 else total
            elif reducer == 1:
                low = values[i]
                for m in range(i + 1, j):
                    low = min(low, values[m])
                out[k] = low
            elif reducer == 2:
                high = values[i]
                for m in range(i + 1, j):
                    high = max(high, values[m])
                out[k] = high
            elif reducer == 4:
                out[k] = values[i]
            elif reducer == 5:
                out[k] = values[j - 1]
            else:
                out[k] = j - i
        i = j


T = TypeVar("T")
R = TypeVar("R")
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def each(fn: Callable[[T], R], items: Sequence[T], readings: int) -> list[R]:
    """fn over items in order, on one thread per core when there are `readings` enough to pay for the hop."""
    global _pool
    if min(cores(), len(items)) < 2 or readings < PARALLEL_FROM:
        return [fn(item) for item in items]
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(cores(), thread_name_prefix="datahub-kernels")
        pool = _pool
    return list(pool.map(fn, items))


def _forget_pool() -> None:  # a forked child has none of its parent's threads
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def warm() -> None:
    """Compile (or load from the disk cache) every kernel now, so no request pays for it."""
    ts = np.arange(4, dtype=np.int64)
    values = np.zeros(4)
    out = np.empty(2)
    carry(ts[:2], ts, values, -1, out, np.empty(2, dtype=np.uint8))
    reduce(ts[:3], ts, values, 0, out, np.empty(2, dtype=np.int64))
    near(ts, 0, 1, 1)
