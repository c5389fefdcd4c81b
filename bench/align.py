"""LOCF alignment benchmark: our engine against pandas, DuckDB and a numpy baseline, on the same data.

Run by hand from the project root:

    .venv/bin/python bench/align.py [--quick]

Every method turns K clean series (`ts` sorted and unique, `value` Float64) into one table on a 1-minute grid:
`ts`, then one column per series holding the last observation with ts <= t and t - ts <= tolerance, else null.
Each peer's result is checked against the engine's before anything is timed; a mismatch aborts the run.
Tables go to stdout and to bench/results/align.md.

Fairness notes:
- the engine's time includes building its grid and `.collect()`; the peers get the grid (and their input
  frames / registered Arrow tables) prepared up front, as each tool's natural input;
- polars and DuckDB use their own thread pools (all cores); pandas and numpy run on one core.

Environment: if OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE are set, numpy (OpenBLAS) can get noticeably slower.
This script deliberately does not touch them; the values in effect are printed with the machine info.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
from numpy.typing import NDArray

from datahub_assets.engine.align import align
from datahub_assets.engine.grid import default_tolerance, duration_grid, to_us

RESULTS = Path(__file__).resolve().parent / "results" / "align.md"
STEP = timedelta(minutes=1)
START = datetime(2024, 1, 1, tzinfo=UTC)
SECOND_US = 1_000_000

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Series:
    name: str
    ts_us: IntArray  # sorted, unique, microseconds since the epoch
    values: FloatArray


@dataclass(frozen=True)
class Scenario:
    title: str
    series: list[Series]
    start: datetime
    end: datetime
    tolerance: timedelta

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.series]


@dataclass(frozen=True)
class Table:
    """A result normalised for comparison: grid stamps, values (n_grid x K, NaN where null), null mask."""

    columns: list[str]
    ts_us: IntArray
    values: FloatArray
    nulls: NDArray[np.bool_]


# --------------------------------------------------------------------------------------------- data


def scenario_dense(rng: np.random.Generator, k: int = 10, n: int = 1_000_000) -> Scenario:
    """K series of n irregular points (exponential gaps, mean 1 s) over ~11.6 days, each starting up to
    30 min late so that the first grid cells are null."""
    start_us = to_us(START)
    series = []
    for i in range(k):
        gaps = np.maximum(1, np.rint(rng.exponential(SECOND_US, n))).astype(np.int64)
        offset = int(rng.integers(0, 30 * 60 * SECOND_US))
        ts = start_us + offset + np.cumsum(gaps)
        series.append(Series(f"s{i}", ts, np.cumsum(rng.standard_normal(n))))
    end = START + timedelta(seconds=n)
    return Scenario(
        f"(a) {k} series x {n:,} irregular points (~1/s, ~11.6 days), 1-minute grid, tolerance 15 min",
        series,
        START,
        end,
        timedelta(minutes=15),
    )


def scenario_regular(rng: np.random.Generator, k: int = 5, days: int = 7) -> Scenario:
    """K series of 10-second data over `days` days, +-3 s jitter and 3 gaps of 5 min..3 h each."""
    step_us = 10 * SECOND_US
    nominal = days * 86_400 // 10
    start_us = to_us(START)
    series = []
    for i in range(k):
        jitter = rng.integers(-3 * SECOND_US, 3 * SECOND_US + 1, nominal)  # < step / 2: stays sorted, unique
        ts = start_us + np.arange(nominal, dtype=np.int64) * step_us + jitter
        keep = np.ones(nominal, dtype=bool)
        for _ in range(3):
            gap_start = start_us + int(rng.integers(0, days * 86_400 * SECOND_US))
            gap_len = int(rng.integers(5 * 60, 3 * 3600)) * SECOND_US
            keep &= (ts < gap_start) | (ts >= gap_start + gap_len)
        ts = ts[keep]
        series.append(Series(f"s{i}", ts, np.cumsum(rng.standard_normal(ts.size))))
    # The engine's default for a 1-minute grid is 4 x 1 min clamped to >= 15 min: the same 15 min.
    assert default_tolerance(STEP) == timedelta(minutes=15)
    return Scenario(
        f"(b) {k} series x {days} days of 10-second data ({nominal:,} nominal points, jitter, gaps), "
        "1-minute grid, tolerance 15 min (= engine default)",
        series,
        START,
        START + timedelta(days=days),
        timedelta(minutes=15),
    )


def to_polars(s: Series) -> pl.DataFrame:
    ts = pl.Series("ts", s.ts_us.astype("datetime64[us]")).dt.replace_time_zone("UTC")
    return pl.DataFrame([ts, pl.Series("value", s.values, dtype=pl.Float64)])


# ------------------------------------------------------------------------------------------ methods

Runner = Callable[[], Any]


def make_engine(sc: Scenario, frames: Sequence[pl.DataFrame]) -> Runner:
    lazy = [f.lazy() for f in frames]
    names = sc.names

    def run() -> pl.DataFrame:
        return align(
            lazy, names, start=sc.start, end=sc.end, resolution=STEP, method="locf", tolerance=sc.tolerance
        ).collect()

    return run


def make_pandas(sc: Scenario, frames: Sequence[pl.DataFrame], grid: pl.Series) -> Runner:
    left = pd.DataFrame({"ts": grid.to_pandas()})
    rights = [f.rename({"value": s.name}).to_pandas() for f, s in zip(frames, sc.series, strict=True)]
    tolerance = pd.Timedelta(sc.tolerance)

    def run() -> pd.DataFrame:
        columns: dict[str, Any] = {"ts": left["ts"]}
        for right in rights:
            name = right.columns[1]
            merged = pd.merge_asof(left, right, on="ts", direction="backward", tolerance=tolerance)
            columns[name] = merged[name].to_numpy()
        return pd.DataFrame(columns)

    return run


def make_duckdb(sc: Scenario, frames: Sequence[pl.DataFrame], grid: pl.Series) -> Runner:
    con = duckdb.connect()
    con.register("grid", pa.table({"ts": grid.to_arrow()}))
    selects, joins = ["g.ts"], []
    tol_us = to_us(sc.tolerance)
    for i, (frame, s) in enumerate(zip(frames, sc.series, strict=True)):
        con.register(f"src{i}", frame.to_arrow())
        selects.append(f"CASE WHEN g.ts - t{i}.ts <= INTERVAL {tol_us} MICROSECONDS THEN t{i}.value END AS {s.name}")
        joins.append(f"ASOF LEFT JOIN src{i} AS t{i} ON g.ts >= t{i}.ts")
    sql = f"SELECT {', '.join(selects)} FROM grid AS g {' '.join(joins)} ORDER BY g.ts"

    def run() -> pa.Table:
        return con.sql(sql).to_arrow_table()

    return run


def make_numpy(sc: Scenario, grid: pl.Series) -> Runner:
    grid_us = grid.dt.epoch("us").to_numpy()
    tol_us = to_us(sc.tolerance)
    inputs = [(s.ts_us, s.values) for s in sc.series]

    def run() -> tuple[IntArray, FloatArray]:
        out = np.empty((grid_us.size, len(inputs)), dtype=np.float64)
        for j, (ts, values) in enumerate(inputs):
            i = np.searchsorted(ts, grid_us, side="right") - 1
            safe = np.maximum(i, 0)
            ok = (i >= 0) & (grid_us - ts[safe] <= tol_us)
            out[:, j] = np.where(ok, values[safe], np.nan)
        return grid_us, out

    return run


# ------------------------------------------------------------------------------------ normalising


def _table(columns: list[str], ts_us: IntArray, values: FloatArray, nulls: NDArray[np.bool_]) -> Table:
    return Table(columns, np.asarray(ts_us, dtype=np.int64), values, nulls)


def norm_polars(df: pl.DataFrame) -> Table:
    names = df.columns[1:]
    nulls = np.column_stack([df.get_column(n).is_null().to_numpy() for n in names])
    values = np.column_stack([df.get_column(n).fill_null(np.nan).to_numpy() for n in names])
    return _table(df.columns, df.get_column("ts").dt.epoch("us").to_numpy(), values, nulls)


def norm_pandas(df: pd.DataFrame) -> Table:
    names = list(df.columns[1:])
    values = df[names].to_numpy(dtype=np.float64, na_value=np.nan)
    ts = df["ts"].dt.as_unit("us").astype("int64").to_numpy()
    return _table(list(df.columns), ts, values, df[names].isna().to_numpy())


def norm_arrow(t: pa.Table) -> Table:
    return norm_polars(pl.from_arrow(t).with_columns(pl.col("ts").dt.convert_time_zone("UTC")))  # type: ignore[union-attr]


def norm_numpy(res: tuple[IntArray, FloatArray], names: list[str]) -> Table:
    ts, values = res
    return _table(["ts", *names], ts, values, np.isnan(values))


def verify(method: str, got: Table, want: Table) -> None:
    problems = []
    if got.columns != want.columns:
        problems.append(f"columns {got.columns} != {want.columns}")
    elif not np.array_equal(got.ts_us, want.ts_us):
        problems.append(f"grid differs ({got.ts_us.size} vs {want.ts_us.size} stamps)")
    elif got.values.shape != want.values.shape:
        problems.append(f"shape {got.values.shape} != {want.values.shape}")
    else:
        if not np.array_equal(got.nulls, want.nulls):
            problems.append(f"null masks differ in {int((got.nulls != want.nulls).sum())} cells")
        if not np.allclose(got.values, want.values, rtol=0, atol=0, equal_nan=True):
            problems.append("values differ")
    if problems:
        sys.exit(f"FAIL: {method} does not match the engine: {'; '.join(problems)}")


# ------------------------------------------------------------------------------------------ timing


def time_all(runners: dict[str, Runner], reps: int, warmup: int = 2) -> dict[str, list[float]]:
    """Each method in its own block: `warmup` untimed runs, then `reps` timed runs back to back, in ms.

    Back-to-back runs are what a service aligning request after request sees; interleaving the methods
    instead would charge each thread pool (Polars', DuckDB's) the cost of waking up after the others ran.
    """
    times: dict[str, list[float]] = {m: [] for m in runners}
    for method, run in runners.items():
        for _ in range(warmup):
            run()
        for _ in range(reps):
            gc.collect()
            t0 = time.perf_counter_ns()
            run()
            times[method].append((time.perf_counter_ns() - t0) / 1e6)
    return times


def markdown(sc: Scenario, times: dict[str, list[float]], reps: int, shape: tuple[int, int]) -> str:
    med = {m: statistics.median(t) for m, t in times.items()}
    lines = [
        f"### {sc.title}",
        "",
        f"Output {shape[0]:,} rows x {shape[1]} columns; input points per series: "
        f"{', '.join(f'{s.ts_us.size:,}' for s in sc.series)}; {reps} timed runs each.",
        "",
        "| method | median ms | min ms | x numpy | x engine |",
        "|---|---:|---:|---:|---:|",
    ]
    for m, t in times.items():
        lines.append(
            f"| {m} | {med[m]:.2f} | {min(t):.2f} | {med[m] / med['numpy searchsorted']:.2f} "
            f"| {med[m] / med['engine (polars)']:.2f} |"
        )
    return "\n".join(lines)


def machine_info() -> str:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    con = duckdb.connect()
    threads = con.execute("SELECT current_setting('threads')").fetchone()
    blas = {k: os.environ.get(k, "unset") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    return "\n".join(
        [
            "### Machine",
            "",
            f"- {platform.platform()}, {platform.machine()}, Python {platform.python_version()}",
            f"- cpu count {os.cpu_count()} (usable {affinity}); polars threads {pl.thread_pool_size()}, "
            f"duckdb threads {threads[0] if threads else '?'}",
            f"- polars {pl.__version__}, duckdb {duckdb.__version__}, pandas {pd.__version__}, "
            f"numpy {np.__version__}, pyarrow {pa.__version__}",
            f"- {', '.join(f'{k}={v}' for k, v in blas.items())}",
        ]
    )


def run_scenario(sc: Scenario, reps: int) -> str:
    frames = [to_polars(s) for s in sc.series]
    grid = duration_grid(sc.start, sc.end, STEP)
    runners: dict[str, Runner] = {
        "engine (polars)": make_engine(sc, frames),
        "pandas merge_asof": make_pandas(sc, frames, grid),
        "duckdb ASOF JOIN": make_duckdb(sc, frames, grid),
        "numpy searchsorted": make_numpy(sc, grid),
    }
    normalise: dict[str, Callable[[Any], Table]] = {
        "engine (polars)": norm_polars,
        "pandas merge_asof": norm_pandas,
        "duckdb ASOF JOIN": norm_arrow,
        "numpy searchsorted": lambda r: norm_numpy(r, sc.names),
    }
    # Warm-up and verification: one run each, compared with the engine's result.
    want = norm_polars(runners["engine (polars)"]())
    n_null = int(want.nulls.sum())
    if n_null == 0 or n_null == want.nulls.size:
        sys.exit(f"FAIL: degenerate test data ({n_null} null cells of {want.nulls.size})")
    for method, run in runners.items():
        verify(method, normalise[method](run()), want)
    print(f"verified: all methods equal the engine ({n_null:,} null cells of {want.nulls.size:,})", flush=True)
    times = time_all(runners, reps)
    return markdown(sc, times, reps, (want.ts_us.size, len(want.columns)))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 timed runs per method instead of 7")
    args = parser.parse_args(argv)
    reps = 3 if args.quick else 7
    rng = np.random.default_rng(20240101)
    sections = [f"## LOCF alignment benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", "", machine_info()]
    print("\n".join(sections), flush=True)
    for build in (scenario_dense, scenario_regular):
        t0 = time.perf_counter()
        sc = build(rng)
        print(f"\nbuilt {sc.title[:3]} in {time.perf_counter() - t0:.1f} s", flush=True)
        table = run_scenario(sc, reps)
        print("\n" + table, flush=True)
        sections += ["", table]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(sections) + "\n")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
