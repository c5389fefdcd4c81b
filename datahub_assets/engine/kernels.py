"""Compiled kernels over sorted stamps: carrying readings onto a grid and reducing buckets (numba).

Stamps are int64 microseconds, sorted ascending (clean series, sorted grids); values are float64. Each kernel is
one forward pass from the previous position: across a few hundred readings it reads the stamps in blocks of 8
(one cache line each, no mispredicted branch per reading) and takes the values without waiting on memory
(LOCF gathers them in a second pass once the positions are known, buckets prefetch them ahead); across more it
gallops, so a grid of K cells over n readings costs O(K + min(n, K log(n / K))) reads. A bucket is a
contiguous run of readings reduced in place. Kernels release the GIL, so several series run on threads side by
side. Pure: arrays in, arrays out.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TypeVar, cast

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic
from numpy.typing import NDArray

MEASURED: Final = 0
CARRIED: Final = 1
MISSING: Final = 3

# Bucket reductions by number (a kernel takes the number, not a function: it stays cacheable on disk).
REDUCERS: Final = {"mean": 0, "min": 1, "max": 2, "sum": 3, "first": 4, "last": 5, "count": 6}

# Below this many readings in all, the series run one after the other (a thread hop costs more than it saves).
PARALLEL_FROM: Final = 1_000_000

# A search reads this many readings in blocks before it gallops; a scan prefetches `values` this far ahead.
SCAN: Final = 512
AHEAD: Final = 256

_jit = numba.njit(nogil=True, cache=True, boundscheck=False)
_inline = numba.njit(nogil=True, cache=True, boundscheck=False, inline="always")  # inlined where called


def _prefetch(typingctx: object, array: types.Array, index: types.Integer) -> tuple[object, object]:

    def codegen(context: object, builder: ir.IRBuilder, signature: object, args: tuple[object, object]) -> object:
        data = context.make_array(array)(context, builder, args[0])  # type: ignore[attr-defined]
        pointer = cgutils.get_item_pointer(context, builder, array, data, [args[1]], wraparound=False,
                                           boundscheck=False)
        byte = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        hint = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32]),
                                              "llvm.prefetch.p0i8")
        builder.call(hint, [builder.bitcast(pointer, byte), ir.Constant(i32, 0), ir.Constant(i32, 3),
                            ir.Constant(i32, 1)])
        return context.get_dummy_value()  # type: ignore[attr-defined]

    return types.void(array, index), codegen


# A hint to fetch array[index]'s cache line (for reading, kept in every cache level); never faults.
prefetch = cast(Callable[[NDArray[np.float64], int], None], intrinsic(_prefetch))


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


@_inline
def scan(ts: NDArray[np.int64], lo: int, x: int, values: NDArray[np.float64], reach: int, fetch: bool
         ) -> int:  # pragma: no cover - compiled
    """`after(ts, lo, x)`, read in blocks of 8 stamps for up to `reach` readings, then galloping. With `fetch`,
    `values` is prefetched AHEAD readings in front of the blocks, so the value taken next is already in cache."""
    n = ts.shape[0]
    j = lo
    stop = min(n, lo + reach)
    while j + 8 <= stop and ts[j + 7] <= x:
        if fetch and j + AHEAD < n:
            prefetch(values, j + AHEAD)
        j += 8
    if j + 8 <= stop:  # the answer is in this block: count the stamps <= x, no branch per stamp
        c = 0
        for m in range(8):
            c += ts[j + m] <= x
        return j + c
    if stop < n and ts[stop - 1] <= x:
        return after(ts, stop, x)
    while j < n and ts[j] <= x:
        j += 1
    return j


@_inline
def total(values: NDArray[np.float64], i: int, j: int) -> float:  # pragma: no cover - compiled
    """Sum of values[i:j] in four interleaved partial sums (four adds in flight instead of one)."""
    a0 = a1 = a2 = a3 = 0.0
    m = i
    while m + 4 <= j:
        a0 += values[m]
        a1 += values[m + 1]
        a2 += values[m + 2]
        a3 += values[m + 3]
        m += 4
    while m < j:
        a0 += values[m]
        m += 1
    return (a0 + a1) + (a2 + a3)


@_inline
def lower(a: float, b: float) -> float:  # pragma: no cover - compiled
    return min(a, b)


@_inline
def higher(a: float, b: float) -> float:  # pragma: no cover - compiled
    return max(a, b)


@_inline
def extreme(values: NDArray[np.float64], i: int, j: int, pick: Callable[[float, float], float]
            ) -> float:  # pragma: no cover - compiled
    """`pick` (lower or higher) over values[i:j] (j > i, no NaN), in four interleaved runs."""
    a0 = a1 = a2 = a3 = values[i]
    m = i
    while m + 4 <= j:
        a0, a1, a2, a3 = pick(a0, values[m]), pick(a1, values[m + 1]), pick(a2, values[m + 2]), pick(a3, values[m + 3])
        m += 4
    while m < j:
        a0 = pick(a0, values[m])
        m += 1
    return pick(pick(a0, a1), pick(a2, a3))


@_inline
def dense(readings: int, cells: int) -> bool:  # pragma: no cover - compiled
    """Whether a cell's step spans blocks of stamps on average: the kernel then scans, else it gallops from the
    last step's length (a loop of each kind, chosen once per call, stays tight)."""
    return readings >= 8 * cells


@_inline
def code(t: int, ts: NDArray[np.int64], j: int, tolerance: int) -> int:  # pragma: no cover - compiled
    """A cell at t whose last reading is before index j: MEASURED, CARRIED (within the tolerance) or MISSING."""
    if j > 0 and (tolerance < 0 or t - ts[j - 1] <= tolerance):
        return MEASURED if ts[j - 1] == t else CARRIED
    return MISSING


@_jit
def carry(grid: NDArray[np.int64], ts: NDArray[np.int64], values: NDArray[np.float64], tolerance: int,
          out: NDArray[np.float64], codes: NDArray[np.uint8]) -> None:  # pragma: no cover - compiled
    """out[k]: the last reading with ts <= grid[k] and grid[k] - ts <= tolerance (tolerance < 0: any distance);
    codes[k]: MEASURED (a reading at grid[k]), CARRIED, or MISSING (out[k] undefined)."""
    j = 0
    guess = 1
    if dense(ts.shape[0], grid.shape[0]):
        # Two passes: the positions and codes while the stamps stream by, then the values, whose loads no
        # longer wait on each other.
        at = np.empty(grid.shape[0], dtype=np.int64)
        for k in range(grid.shape[0]):
            moved = near(ts, j, grid[k], guess) if guess > SCAN else scan(ts, j, grid[k], values, SCAN, False)
            guess = max(moved - j, 1)
            j = moved
            at[k] = max(j - 1, 0)
            codes[k] = code(grid[k], ts, j, tolerance)
        for k in range(grid.shape[0]):
            out[k] = values[at[k]]  # (undefined where MISSING; dense: ts holds 8 readings or more)
    else:
        for k in range(grid.shape[0]):
            moved = near(ts, j, grid[k], guess)
            guess = max(moved - j, 1)
            j = moved
            codes[k] = code(grid[k], ts, j, tolerance)
            if codes[k] != MISSING:
                out[k] = values[j - 1]


@_inline
def bucket(values: NDArray[np.float64], i: int, j: int, reducer: int, k: int, out: NDArray[np.float64],
           counts: NDArray[np.int64]) -> None:  # pragma: no cover - compiled
    """Bucket k from the readings i..j-1."""
    counts[k] = j - i
    if j == i:
        return
    if reducer == 0:
        out[k] = total(values, i, j) / (j - i)
    elif reducer == 3:
        out[k] = total(values, i, j)
    elif reducer == 1:
        out[k] = extreme(values, i, j, lower)
    elif reducer == 2:
        out[k] = extreme(values, i, j, higher)
    elif reducer == 4:
        out[k] = values[i]
    elif reducer == 5:
        out[k] = values[j - 1]
    else:
        out[k] = j - i


@_jit
def reduce(edges: NDArray[np.int64], ts: NDArray[np.int64], values: NDArray[np.float64], reducer: int,
           out: NDArray[np.float64], counts: NDArray[np.int64]) -> None:  # pragma: no cover - compiled
    """Bucket k holds the readings with edges[k] <= ts < edges[k + 1]: counts[k] of them, reduced into out[k]
    (undefined where the count is 0). Sums add in four interleaved partial sums: equal to a plain sum within
    rounding."""
    i = after(ts, 0, edges[0] - 1)
    guess = 1
    if dense(ts.shape[0], edges.shape[0] - 1):
        for k in range(edges.shape[0] - 1):
            x = edges[k + 1] - 1
            j = near(ts, i, x, guess) if guess > SCAN else scan(ts, i, x, values, SCAN, True)
            guess = max(j - i, 1)
            bucket(values, i, j, reducer, k, out, counts)
            i = j
    else:
        for k in range(edges.shape[0] - 1):
            j = near(ts, i, edges[k + 1] - 1, guess)
            guess = max(j - i, 1)
            bucket(values, i, j, reducer, k, out, counts)
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
    scan(ts, 0, 1, values, SCAN, True)
