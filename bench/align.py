"""Alignment benchmark: our engine against Polars' plain forms, numpy, pandas, DuckDB and ClickHouse (chDB).

Run by hand from the project root (chDB, a 0.5 GB install, comes from bench/requirements.txt):

    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python bench/align.py [--quick] [--rounds N] [--only locf|agg]

Two tasks, each on the same data for every method:
- LOCF: K clean series (`ts` sorted and unique, `value` Float64) onto one 1-minute grid: `ts`, then one column
  per series holding the last observation with ts <= t and t - ts <= tolerance, else null;
- bucket aggregates (mean|min|max|sum|first|last|count) over 1-minute buckets [t, t + 1 min) of the window,
  one row per bucket, empty buckets null (count: 0).
Each peer's result is checked against the engine's before anything is timed (LOCF: equal cell by cell;
aggregates: equal null masks, values equal up to 1e-9 relative, since a sum may be added up in another order);
a mismatch aborts the run. Tables go to stdout and to bench/results/align.md.

Fairness notes:
- the engine's time includes building its grid and `.collect()`; the peers get the grid (and their input
  frames / registered Arrow tables / in-memory tables) prepared up front, as each tool's natural input;
- polars, DuckDB and chDB use their own thread pools (all cores); pandas and numpy run on one core;
- every method is timed in `rounds` blocks (the methods take turns block by block, so a burst of load from
  elsewhere on the machine hits them alike); a table reports the median and the minimum of all timed runs,
  wall clock, and the median CPU time of the process (all threads).

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

try:
    import chdb
except ImportError:
    sys.exit("bench/align.py compares with chDB: .venv/bin/pip install -r bench/requirements.txt")

from datahub_assets.engine.align import AGGREGATES, align
from datahub_assets.engine.grid import bucket_labels, default_tolerance, duration_grid, to_us

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
ENGINE = "engine"
NUMPY_LOCF = "numpy searchsorted"
NUMPY_AGG = "numpy reduceat"
METHOD_ORDER = ("mean", "min", "max", "sum", "first", "last", "count")
assert set(METHOD_ORDER) == AGGREGATES


def make_engine(sc: Scenario, frames: Sequence[pl.DataFrame], method: str = "locf") -> Runner:
    """The engine as the API calls it: on the series' frames in memory."""
    names = sc.names
    tolerance = sc.tolerance if method == "locf" else None

    def run() -> pl.DataFrame:
        return align(
            frames, names, start=sc.start, end=sc.end, resolution=STEP, method=method,  # type: ignore[arg-type]
            tolerance=tolerance,
        ).collect()

    return run


def hconcat(frames: list[pl.LazyFrame]) -> pl.LazyFrame:
    """Frames side by side, equal heights required (spelled `strict=True` before Polars 2)."""
    if pl.__version__.startswith("1."):
        return pl.concat(frames, how="horizontal", strict=True)
    return pl.concat(frames, how="horizontal")


def make_polars_asof(sc: Scenario, frames: Sequence[pl.DataFrame], grid: pl.Series) -> Runner:
    """Polars' plain form: one join_asof of the grid with each series (no sortedness hints), side by side."""
    left = pl.LazyFrame([grid])
    rights = [f.lazy().rename({"value": s.name}) for f, s in zip(frames, sc.series, strict=True)]
    tolerance = sc.tolerance

    def run() -> pl.DataFrame:
        columns = [left.join_asof(r, on="ts", strategy="backward", tolerance=tolerance).drop("ts") for r in rights]
        return hconcat([left, *columns]).collect()

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


def duckdb_connection(sc: Scenario, frames: Sequence[pl.DataFrame], grid: pl.Series) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("grid", pa.table({"ts": grid.to_arrow()}))
    for i, frame in enumerate(frames):
        con.register(f"src{i}", frame.to_arrow())
    return con


def make_duckdb(sc: Scenario, con: duckdb.DuckDBPyConnection) -> Runner:
    selects, joins = ["g.ts"], []
    tol_us = to_us(sc.tolerance)
    for i, s in enumerate(sc.series):
        selects.append(f"CASE WHEN g.ts - t{i}.ts <= INTERVAL {tol_us} MICROSECONDS THEN t{i}.value END AS {s.name}")
        joins.append(f"ASOF LEFT JOIN src{i} AS t{i} ON g.ts >= t{i}.ts")
    sql = f"SELECT {', '.join(selects)} FROM grid AS g {' '.join(joins)} ORDER BY g.ts"

    def run() -> pa.Table:
        return con.sql(sql).to_arrow_table()

    return run


def chdb_session(sc: Scenario, frames: Sequence[pl.DataFrame], grid: pl.Series) -> Any:
    """A chDB session with the grid and each series in ClickHouse Memory tables (loaded once, untimed)."""
    sess = chdb.session.Session()
    grid_us = pa.table({"ts": grid.dt.epoch("us").to_arrow()})  # noqa: F841 (read by the query below)
    # ClickHouse's ASOF JOIN needs an equality besides the inequality: a constant key `c` gives it one.
    sess.query("CREATE TABLE grid (c UInt8, ts DateTime64(6, 'UTC')) ENGINE = Memory")
    sess.query("INSERT INTO grid SELECT 0, fromUnixTimestamp64Micro(ts, 'UTC') FROM Python(grid_us)")
    for i, frame in enumerate(frames):
        src = pa.table({"ts": frame["ts"].dt.epoch("us").to_arrow(), "value": frame["value"].to_arrow()})  # noqa: F841
        sess.query(f"CREATE TABLE src{i} (c UInt8, ts DateTime64(6, 'UTC'), value Float64) ENGINE = Memory")
        sess.query(f"INSERT INTO src{i} SELECT 0, fromUnixTimestamp64Micro(ts, 'UTC'), value FROM Python(src)")
    return sess


def make_chdb(sc: Scenario, sess: Any) -> Runner:
    selects, joins = ["g.ts AS ts"], []
    tol_us = to_us(sc.tolerance)
    for i, s in enumerate(sc.series):
        age = f"toUnixTimestamp64Micro(g.ts) - toUnixTimestamp64Micro(t{i}.ts)"
        selects.append(f"if({age} <= {tol_us}, t{i}.value, NULL) AS {s.name}")
        joins.append(f"ASOF LEFT JOIN src{i} AS t{i} ON g.c = t{i}.c AND g.ts >= t{i}.ts")
    sql = f"SELECT {', '.join(selects)} FROM grid AS g {' '.join(joins)} ORDER BY ts SETTINGS join_use_nulls = 1"

    def run() -> pa.Table:
        return sess.query(sql, "ArrowTable")

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


# ---------------------------------------------------------------------------------- aggregate peers


def make_polars_dynamic(sc: Scenario, frames: Sequence[pl.DataFrame], labels: pl.Series, method: str) -> Runner:
    """Polars' plain form: filter the window, group_by_dynamic per series, left-join onto all bucket labels."""
    grid = pl.LazyFrame([labels])
    lazy = [f.lazy() for f in frames]
    every = f"{to_us(STEP)}us"

    def agg(name: str) -> pl.Expr:
        value = pl.col("value")
        expr = pl.len() if method == "count" else getattr(value, method)()
        return expr.alias(name)

    def run() -> pl.DataFrame:
        columns = []
        for f, s in zip(lazy, sc.series, strict=True):
            inside = f.filter((pl.col("ts") >= sc.start) & (pl.col("ts") < sc.end))
            buckets = inside.group_by_dynamic("ts", every=every, closed="left", label="left").agg(agg(s.name))
            column = grid.join(buckets, on="ts", how="left", maintain_order="left").select(s.name)
            if method == "count":
                column = column.select(pl.col(s.name).fill_null(0).cast(pl.Float64))
            columns.append(column)
        return hconcat([grid, *columns]).collect()

    return run


def make_numpy_reduceat(sc: Scenario, labels: pl.Series, method: str) -> Runner:
    """Bucket bounds by searchsorted of the (window-clipped) bucket edges, then ufunc.reduceat per series."""
    step = to_us(STEP)
    lab = labels.dt.epoch("us").to_numpy()
    edges = np.clip(np.append(lab, lab[-1] + step), to_us(sc.start), to_us(sc.end))
    inputs = [(s.ts_us, s.values) for s in sc.series]
    ufunc = {"mean": np.add, "sum": np.add, "min": np.minimum, "max": np.maximum}.get(method)

    def run() -> tuple[IntArray, FloatArray]:
        out = np.empty((lab.size, len(inputs)), dtype=np.float64)
        for j, (ts, values) in enumerate(inputs):
            b = np.searchsorted(ts, edges)
            count = np.diff(b)
            if method == "count":
                out[:, j] = count
                continue
            if method in ("first", "last"):
                idx = b[:-1] if method == "first" else b[1:] - 1
                out[:, j] = np.where(count > 0, values[np.clip(idx, 0, max(values.size - 1, 0))], np.nan)
                continue
            assert ufunc is not None
            inside = values[: b[-1]]
            m = int(np.searchsorted(b[:-1], b[-1]))  # buckets that start before the last observation used
            col = np.full(lab.size, np.nan)
            if m:
                col[:m] = ufunc.reduceat(inside, b[:m])
            if method == "mean":
                with np.errstate(invalid="ignore", divide="ignore"):
                    col = col / count
            out[:, j] = np.where(count > 0, col, np.nan)
        return lab, out

    return run


def make_pandas_resample(sc: Scenario, frames: Sequence[pl.DataFrame], labels: pl.Series, method: str) -> Runner:
    index = pd.DatetimeIndex(labels.to_pandas())
    series = [f.to_pandas().set_index("ts")["value"].rename(s.name) for f, s in zip(frames, sc.series, strict=True)]
    start, end = pd.Timestamp(sc.start), pd.Timestamp(sc.end)

    def run() -> pd.DataFrame:
        columns: dict[str, Any] = {"ts": index}
        for v in series:
            inside = v[(v.index >= start) & (v.index < end)]
            resampled = inside.resample(pd.Timedelta(STEP), origin="epoch")
            agg = resampled.sum(min_count=1) if method == "sum" else getattr(resampled, method)()
            col = agg.reindex(index)
            columns[v.name] = col.fillna(0).to_numpy() if method == "count" else col.to_numpy()
        return pd.DataFrame(columns)

    return run


SQL_AGG = {
    "duckdb": {"mean": "avg(value)", "min": "min(value)", "max": "max(value)", "sum": "sum(value)",
               "first": "arg_min(value, ts)", "last": "arg_max(value, ts)", "count": "count(value)"},
    "chdb": {"mean": "avg(value)", "min": "min(value)", "max": "max(value)", "sum": "sum(value)",
             "first": "argMin(value, ts)", "last": "argMax(value, ts)", "count": "count(value)"},
}


def make_duckdb_agg(sc: Scenario, con: duckdb.DuckDBPyConnection, labels: pl.Series, method: str) -> Runner:
    step = to_us(STEP)
    first = int(labels.dt.epoch("us")[0])
    end_us, start_us = to_us(sc.end), to_us(sc.start)
    ctes = [f"g AS (SELECT range AS k FROM range({first}, {end_us}, {step}))"]
    selects, joins = ["make_timestamp(g.k) AS ts"], []
    for i, s in enumerate(sc.series):
        ctes.append(
            f"a{i} AS (SELECT epoch_us(ts) // {step} * {step} AS k, {SQL_AGG['duckdb'][method]} AS v FROM src{i} "
            f"WHERE epoch_us(ts) >= {start_us} AND epoch_us(ts) < {end_us} GROUP BY 1)"
        )
        value = f"coalesce(a{i}.v, 0)::DOUBLE" if method == "count" else f"a{i}.v::DOUBLE"
        selects.append(f"{value} AS {s.name}")
        joins.append(f"LEFT JOIN a{i} ON a{i}.k = g.k")
    sql = f"WITH {', '.join(ctes)} SELECT {', '.join(selects)} FROM g {' '.join(joins)} ORDER BY g.k"

    def run() -> pa.Table:
        return con.sql(sql).to_arrow_table()

    return run


def make_chdb_agg(sc: Scenario, sess: Any, labels: pl.Series, method: str) -> Runner:
    step = to_us(STEP)
    first = int(labels.dt.epoch("us")[0])
    end_us, start_us = to_us(sc.end), to_us(sc.start)
    n = labels.len()
    selects, joins = ["fromUnixTimestamp64Micro(toInt64(g.k), 'UTC') AS ts"], []
    for i, s in enumerate(sc.series):
        us = "toUnixTimestamp64Micro(ts)"
        sub = (f"(SELECT intDiv({us}, {step}) * {step} AS k, {SQL_AGG['chdb'][method]} AS v FROM src{i} "
               f"WHERE {us} >= {start_us} AND {us} < {end_us} GROUP BY k)")
        value = f"toFloat64(ifNull(a{i}.v, 0))" if method == "count" else f"toFloat64(a{i}.v)"
        selects.append(f"{value} AS {s.name}")
        joins.append(f"LEFT JOIN {sub} AS a{i} ON a{i}.k = g.k")
    grid = f"(SELECT {first} + number * {step} AS k FROM numbers({n}))"
    sql = (f"SELECT {', '.join(selects)} FROM {grid} AS g {' '.join(joins)} ORDER BY g.k "
           "SETTINGS join_use_nulls = 1")

    def run() -> pa.Table:
        return sess.query(sql, "ArrowTable")

    return run


# ------------------------------------------------------------------------------------ normalising


def _table(columns: list[str], ts_us: IntArray, values: FloatArray, nulls: NDArray[np.bool_]) -> Table:
    return Table(columns, np.asarray(ts_us, dtype=np.int64), values, nulls)


def norm_polars(df: pl.DataFrame) -> Table:
    names = df.columns[1:]
    nulls = np.column_stack([df.get_column(n).is_null().to_numpy() for n in names])
    values = np.column_stack([df.get_column(n).cast(pl.Float64).fill_null(np.nan).to_numpy() for n in names])
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


def verify(method: str, got: Table, want: Table, *, exact: bool = True) -> None:
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
        rtol = 0.0 if exact else 1e-9
        if not np.allclose(got.values, want.values, rtol=rtol, atol=0, equal_nan=True):
            problems.append("values differ")
    if problems:
        sys.exit(f"FAIL: {method} does not match the engine: {'; '.join(problems)}")


# ------------------------------------------------------------------------------------------ timing


@dataclass
class Times:
    wall: list[float]
    cpu: list[float]


def time_all(runners: dict[str, Runner], reps: int, rounds: int, warmup: int = 2) -> dict[str, Times]:
    """Each method in its own block: `warmup` untimed runs, then `reps` timed runs back to back (ms); the
    methods take turns block by block, `rounds` times.

    Back-to-back runs are what a service aligning request after request sees; interleaving the methods run
    by run instead would charge each thread pool (Polars', DuckDB's) the cost of waking up after the others.
    """
    times = {m: Times([], []) for m in runners}
    for _ in range(rounds):
        for method, run in runners.items():
            for _ in range(warmup):
                run()
            for _ in range(reps):
                gc.collect()
                c0, t0 = time.process_time_ns(), time.perf_counter_ns()
                run()
                times[method].wall.append((time.perf_counter_ns() - t0) / 1e6)
                times[method].cpu.append((time.process_time_ns() - c0) / 1e6)
    return times


def locf_markdown(sc: Scenario, times: dict[str, Times], runs: int, shape: tuple[int, int]) -> str:
    med = {m: statistics.median(t.wall) for m, t in times.items()}
    lines = [
        f"### LOCF: {sc.title}",
        "",
        f"Output {shape[0]:,} rows x {shape[1]} columns; input points per series: "
        f"{', '.join(f'{s.ts_us.size:,}' for s in sc.series)}; {runs} timed runs each.",
        "",
        "| method | median ms | min ms | CPU ms (median) | x engine | x numpy |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m, t in times.items():
        lines.append(
            f"| {m} | {med[m]:.2f} | {min(t.wall):.2f} | {statistics.median(t.cpu):.2f} "
            f"| {med[m] / med[ENGINE]:.2f} | {med[m] / med[NUMPY_LOCF]:.2f} |"
        )
    return "\n".join(lines)


def agg_markdown(sc: Scenario, results: dict[str, dict[str, Times]], runs: int, rows: int) -> str:
    peers = [m for m in next(iter(results.values())) if m != ENGINE]
    lines = [
        f"### Bucket aggregates: {sc.title.split(', 1-minute grid')[0]}, 1-minute buckets",
        "",
        f"Output {rows:,} buckets x {len(sc.series)} series; {runs} timed runs each. Engine: median (min) wall ms "
        "and CPU ms; peers: median wall time as a multiple of the engine's (below 1: faster than the engine).",
        "",
        f"| aggregate | engine ms | engine CPU ms | {' | '.join(peers)} |",
        "|---|---:|---:|" + "---:|" * len(peers),
    ]
    for method, times in results.items():
        eng = statistics.median(times[ENGINE].wall)
        cells = [f"{statistics.median(times[p].wall) / eng:.2f}" for p in peers]
        lines.append(
            f"| {method} | {eng:.2f} ({min(times[ENGINE].wall):.2f}) | {statistics.median(times[ENGINE].cpu):.2f} "
            f"| {' | '.join(cells)} |"
        )
    return "\n".join(lines)


def machine_info() -> str:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    con = duckdb.connect()
    threads = con.execute("SELECT current_setting('threads')").fetchone()
    blas = {k: os.environ.get(k, "unset") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return "\n".join(
        [
            "### Machine",
            "",
            f"- {platform.platform()}, {platform.machine()}, Python {platform.python_version()}",
            f"- cpu count {os.cpu_count()} (usable {affinity}); polars threads {pl.thread_pool_size()}, "
            f"duckdb threads {threads[0] if threads else '?'}",
            f"- polars {pl.__version__}, duckdb {duckdb.__version__}, chdb {chdb.__version__} "
            f"(ClickHouse {chdb.engine_version}), pandas {pd.__version__}, numpy {np.__version__}, "
            f"pyarrow {pa.__version__}",
            f"- {', '.join(f'{k}={v}' for k, v in blas.items())}",
            f"- load average at start: {', '.join(f'{x:.2f}' for x in load) if load else '?'}",
        ]
    )


def run_locf(sc: Scenario, frames: list[pl.DataFrame], reps: int, rounds: int) -> str:
    grid = duration_grid(sc.start, sc.end, STEP)
    con = duckdb_connection(sc, frames, grid)
    sess = chdb_session(sc, frames, grid)
    runners: dict[str, Runner] = {
        ENGINE: make_engine(sc, frames),
        "polars join_asof (plain)": make_polars_asof(sc, frames, grid),
        NUMPY_LOCF: make_numpy(sc, grid),
        "pandas merge_asof": make_pandas(sc, frames, grid),
        "duckdb ASOF JOIN": make_duckdb(sc, con),
        "chdb ASOF JOIN": make_chdb(sc, sess),
    }
    normalise: dict[str, Callable[[Any], Table]] = {
        ENGINE: norm_polars,
        "polars join_asof (plain)": norm_polars,
        NUMPY_LOCF: lambda r: norm_numpy(r, sc.names),
        "pandas merge_asof": norm_pandas,
        "duckdb ASOF JOIN": norm_arrow,
        "chdb ASOF JOIN": norm_arrow,
    }
    want = norm_polars(runners[ENGINE]())
    n_null = int(want.nulls.sum())
    if n_null == 0 or n_null == want.nulls.size:
        sys.exit(f"FAIL: degenerate test data ({n_null} null cells of {want.nulls.size})")
    for method, run in runners.items():
        verify(method, normalise[method](run()), want)
    print(f"verified LOCF: all methods equal the engine ({n_null:,} null cells of {want.nulls.size:,})", flush=True)
    times = time_all(runners, reps, rounds)
    return locf_markdown(sc, times, reps * rounds, (want.ts_us.size, len(want.columns)))


def run_aggregates(sc: Scenario, frames: list[pl.DataFrame], reps: int, rounds: int) -> str:
    labels = bucket_labels(sc.start, sc.end, STEP)
    grid = duration_grid(sc.start, sc.end, STEP)
    con = duckdb_connection(sc, frames, grid)
    sess = chdb_session(sc, frames, grid)
    results: dict[str, dict[str, Times]] = {}
    for method in METHOD_ORDER:
        runners: dict[str, Runner] = {
            ENGINE: make_engine(sc, frames, method),
            "polars group_by_dynamic (plain)": make_polars_dynamic(sc, frames, labels, method),
            NUMPY_AGG: make_numpy_reduceat(sc, labels, method),
            "pandas resample": make_pandas_resample(sc, frames, labels, method),
            "duckdb GROUP BY": make_duckdb_agg(sc, con, labels, method),
            "chdb GROUP BY": make_chdb_agg(sc, sess, labels, method),
        }
        normalise: dict[str, Callable[[Any], Table]] = {
            ENGINE: norm_polars,
            "polars group_by_dynamic (plain)": norm_polars,
            NUMPY_AGG: lambda r: norm_numpy(r, sc.names),
            "pandas resample": norm_pandas,
            "duckdb GROUP BY": norm_arrow,
            "chdb GROUP BY": norm_arrow,
        }
        want = norm_polars(runners[ENGINE]())
        for name, run in runners.items():
            verify(f"{name} ({method})", normalise[name](run()), want, exact=method not in ("mean", "sum"))
        print(f"verified {method}: all methods equal the engine", flush=True)
        results[method] = time_all(runners, reps, rounds)
    return agg_markdown(sc, results, reps * rounds, labels.len())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 timed runs per block instead of 7, one round")
    parser.add_argument("--rounds", type=int, default=3, help="blocks per method, taken in turns (default 3)")
    parser.add_argument("--only", choices=("locf", "agg"), help="one task only")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where to write the tables (default {RESULTS})")
    args = parser.parse_args(argv)
    reps, rounds = (3, 1) if args.quick else (7, args.rounds)
    rng = np.random.default_rng(20240101)
    sections = [f"## Alignment benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", "", machine_info()]
    print("\n".join(sections), flush=True)
    for build in (scenario_dense, scenario_regular):
        t0 = time.perf_counter()
        sc = build(rng)
        frames = [to_polars(s) for s in sc.series]
        print(f"\nbuilt {sc.title[:3]} in {time.perf_counter() - t0:.1f} s", flush=True)
        for task, runner in (("locf", run_locf), ("agg", run_aggregates)):
            if args.only in (None, task):
                table = runner(sc, frames, reps, rounds)
                print("\n" + table, flush=True)
                sections += ["", table]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(sections) + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
