"""API benchmark: the typical align request over HTTP against the same work done in process, on one lake.

Run by hand from the project root:

    .venv/bin/python bench/api.py [--quick]

Set-up, in a temporary folder: two sites logging 5 series every 10 s (one Parquet file per site, a `file`
source each, stamps jittered by 0..3 s, realistic daily cycles plus noise), materialized in process into a
local lake for 2023-12-31..2024-01-07. The request window is the 7 days 2024-01-01..07 (60,480 points per
series); the day before is materialized too because LOCF's carry-in (15 min) reaches into it, so no request
ever reads through to a source (checked on `/metrics` and in process).

The API runs as its own process, exactly as deployed: `uvicorn --factory api.app:create_app` with uvicorn's
defaults (1 worker, uvloop + httptools, access log on; the log goes to a file). The typical request:
POST /api/datahub/timeseries/align, 5 series, 7 days, resolution "1m", `Accept: application/vnd.apache.arrow.
stream` -> 10,080 rows x 6 columns. Every answer is parsed and checked (rows, columns); the first one must equal,
byte for byte, the Arrow stream produced in process.

Measured, one block after the other (the machine has few cores: client and server share them):
- in process: `read_many` (lake only) + `align(...).collect()`; the same plus Arrow IPC serialization
  (`api.output.arrow_stream`); and `api.service.align_request` (the handler's whole service call, with its
  read-through bookkeeping) plus serialization;
- HTTP, sequential: one keep-alive httpx client, warm-up, then N requests;
- HTTP, throughput: 16 concurrent clients (threads, each its own keep-alive httpx.Client) for a fixed time.
Tables go to stdout and to bench/results/api.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import fastapi
import httpx
import numpy as np
import polars as pl
import pyarrow as pa
import starlette
import uvicorn

# This file is bench/api.py: run as a script, its folder comes first on sys.path, and `import api` would find
# this file instead of the project's `api` package. Drop that folder before importing the project.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != Path(__file__).resolve().parent]

from api.models import AlignRequest  # noqa: E402
from api.output import ARROW, arrow_stream  # noqa: E402
from api.service import Aligned, Context, align_request, resolve_series  # noqa: E402
from api.work import MemoryBudget  # noqa: E402
from datahub_assets.cache import PartitionCache  # noqa: E402
from datahub_assets.definitions import build_definitions  # noqa: E402
from datahub_assets.engine.align import DEFAULT, align, carry_in  # noqa: E402
from datahub_assets.instance import prepare_home  # noqa: E402
from datahub_assets.materialize import materialize_partitions  # noqa: E402
from datahub_assets.window import ReadThrough, read_frames, read_many  # noqa: E402
from resources.catalog import Catalog, load_catalog  # noqa: E402
from resources.registry import LAKE, make_resources  # noqa: E402
from resources.settings import Settings  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "api.md"
UVICORN = Path(sys.executable).parent / "uvicorn"

START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 7
END = START + timedelta(days=DAYS)
FIRST_DAY = START - timedelta(days=1)  # the carry-in day, materialized too
CADENCE_S = 10
STEP = timedelta(minutes=1)
ROWS = DAYS * 24 * 60  # 10,080 grid rows
PATH = "/api/datahub/timeseries/align"
CONCURRENCY = 16
TENANT = "default"


@dataclass(frozen=True)
class Spec:
    site: str
    entity: str
    attribute: str
    unit: str
    base: float  # daily mean
    swing: float  # amplitude of the daily cycle
    noise: float  # std of the random walk's steps
    peak_hour: float


SPECS = [
    Spec("site1", "urn:bench:site1", "power", "kW", 480.0, 160.0, 1.5, 13.0),
    Spec("site1", "urn:bench:site1", "temperature", "degC", 11.0, 5.0, 0.02, 15.0),
    Spec("site1", "urn:bench:site1", "humidity", "%", 68.0, -14.0, 0.05, 15.0),
    Spec("site2", "urn:bench:site2", "power", "kW", 220.0, 90.0, 1.0, 12.0),
    Spec("site2", "urn:bench:site2", "voltage", "V", 230.0, 2.5, 0.05, 19.0),
]
COLUMNS = 1 + len(SPECS)
BODY = {
    "series": [{"entity_id": s.entity, "attribute": s.attribute} for s in SPECS],
    "start_time": START.isoformat().replace("+00:00", "Z"),
    "end_time": END.isoformat().replace("+00:00", "Z"),
    "resolution": "1m",
}
HEADERS = {"Accept": ARROW, "Content-Type": "application/json"}


# --------------------------------------------------------------------------------------------- data


def write_sites(root: Path, rng: np.random.Generator) -> None:
    """One Parquet file per site: `ts` (UTC, every 10 s plus 0..3 s of jitter, so each day holds exactly
    8,640 readings) and one column per attribute."""
    n = (DAYS + 1) * 86_400 // CADENCE_S
    first_us = int(FIRST_DAY.timestamp()) * 1_000_000
    for site in sorted({s.site for s in SPECS}):
        nominal = first_us + np.arange(n, dtype=np.int64) * CADENCE_S * 1_000_000
        ts = nominal + rng.integers(0, 3_000_000, n)
        hours = (ts / 3.6e9) % 24
        columns: dict[str, Any] = {"ts": pl.Series(ts).cast(pl.Datetime("us", "UTC"))}
        for s in (s for s in SPECS if s.site == site):
            cycle = s.swing * np.cos(2 * np.pi * (hours - s.peak_hour) / 24)
            walk = np.cumsum(rng.normal(0.0, s.noise, n))
            columns[s.attribute] = np.round(s.base + cycle + walk - walk.mean(), 2)
        pl.DataFrame(columns).write_parquet(root / f"{site}.parquet")


def write_catalog(root: Path) -> Path:
    sites = sorted({s.site for s in SPECS})
    sources = "\n".join(f"  {site}: {{kind: file, path: {site}.parquet, timestamp_column: ts}}" for site in sites)
    series = "\n".join(
        f'  - {{entity: "{s.entity}", attribute: {s.attribute}, source: {s.site}, column: {s.attribute}, '
        f'unit: "{s.unit}", cadence: {CADENCE_S}s, checks: {{max_gap: 30s}}}}'
        for s in SPECS
    )
    text = f'partitions: {{start: "{FIRST_DAY.date().isoformat()}"}}\nsources:\n{sources}\nseries:\n{series}\n'
    path = root / "catalog.yaml"
    path.write_text(text)
    return path


def materialize(catalog_path: Path, settings: Settings) -> list[str]:
    defs = build_definitions(load_catalog(catalog_path), settings)
    days = [(FIRST_DAY + timedelta(days=i)).date().isoformat() for i in range(DAYS + 1)]
    failed = materialize_partitions("key:raw/*", days, defs=defs, echo=lambda _: None)
    if failed:
        sys.exit(f"FAIL: materialization failed for {failed}")
    return days


# ------------------------------------------------------------------------------------------ server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def api_server(env: dict[str, str], log: Path, timeout: float = 60.0, workers: int = 1
               ) -> Iterator[tuple[str, int]]:
    """`uvicorn --factory api.app:create_app` with its defaults, as a child process; stopped at the end. With
    several workers, Prometheus' multiprocess folder as `datahub serve --workers` sets it."""
    port = free_port()
    cmd = [str(UVICORN), "--factory", "api.app:create_app", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
        env = {**env, "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="datahub-bench-metrics-")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                sys.exit(f"FAIL: the API exited with {proc.returncode}; log:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                sys.exit(f"FAIL: the API was not healthy within {timeout:.0f} s; log:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def family(pid: int) -> list[int]:
    """A process and its children (uvicorn's workers)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(c for child in children for c in family(int(child)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children so far (Linux /proc; NaN elsewhere)."""
    total = 0.0
    for member in family(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def peak_rss_mib(pid: int) -> float:
    """The largest resident memory any process of the family reached (VmHWM), in MiB."""
    peaks = []
    for member in family(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        peaks += [int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM")]
    return max(peaks, default=float("nan"))


@contextmanager
def quiet_stderr(log: Path) -> Iterator[None]:
    """Send this process's stderr (Dagster's run logs) to a file for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log, "ab") as out:
        os.dup2(out.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def read_through_fetches(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(float(m.group(1)) for m in re.finditer(r"^datahub_read_through_fetches_total\{.*\} (\S+)$", text, re.M))


# ----------------------------------------------------------------------------------------- checking


def check_arrow(body: bytes) -> str | None:
    """None when the body is the expected grid, else what is wrong."""
    try:
        table = pa.ipc.open_stream(body).read_all()
    except pa.ArrowInvalid as exc:
        return f"not an Arrow stream: {exc}"
    if table.num_rows != ROWS or table.num_columns != COLUMNS:
        return f"{table.num_rows} rows x {table.num_columns} columns, expected {ROWS} x {COLUMNS}"
    return None


def check_response(resp: httpx.Response) -> str | None:
    if resp.status_code != 200:
        return f"HTTP {resp.status_code}: {resp.text[:200]}"
    return check_arrow(resp.content)


# ------------------------------------------------------------------------------------------ timing


@dataclass
class Result:
    label: str
    times_ms: list[float]
    errors: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    def pct(self, q: float) -> float:
        return float(np.percentile(self.times_ms, q))

    @property
    def mean(self) -> float:
        return statistics.fmean(self.times_ms)


def time_block(label: str, run: Callable[[], Any], reps: int, warmup: int) -> Result:
    for _ in range(warmup):
        run()
    gc.collect()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        run()
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return Result(label, times)


@dataclass
class InProcess:
    catalog: Catalog
    ctx: Context
    fetches: list[str]

    def frames(self, cache: PartitionCache | None = None) -> tuple[list[Any], list[pl.DataFrame]]:
        series = resolve_series(self.catalog, TENANT, AlignRequest.model_validate(BODY).series)
        cadences = [s.cadence for s in series if s.cadence is not None]
        carry = carry_in(DEFAULT, STEP, cadences, start=START, end=END)
        return series, read_frames(self.ctx.lake, self.catalog, series, start=START, end=END, carry=carry,
                                   cache=cache)

    def aligned(self, series: list[Any], frames: list[pl.DataFrame]) -> Aligned:
        cadences = [s.cadence for s in series if s.cadence is not None]
        names = [f"value_{i}" for i in range(len(series))]
        grid = align(frames, names, start=START, end=END, resolution=STEP, method="locf",
                     tolerance=DEFAULT, cadences=cadences).collect()
        return Aligned(grid, series, START, END)

    def read_align(self) -> Aligned:
        return self.aligned(*self.frames())

    def cached_read_align(self) -> Aligned:
        return self.aligned(*self.frames(self.ctx.cache))

    def engine_only(self) -> Callable[[], Aligned]:
        """The engine's own work on frames already in memory: what no I/O can improve."""
        series, frames = self.frames()
        return lambda: self.aligned(series, frames)

    def read_align_arrow(self) -> bytes:
        return arrow_stream(self.read_align())

    def service_arrow(self) -> bytes:
        result = align_request(self.ctx, TENANT, AlignRequest.model_validate(BODY))
        assert result is not None
        return arrow_stream(result)


def time_http_sequential(url: str, payload: bytes, reps: int, warmup: int) -> tuple[Result, bytes]:
    errors = 0
    times = []
    first = b""
    with httpx.Client(base_url=url, timeout=30, headers=HEADERS) as client:
        for _ in range(warmup):
            resp = client.post(PATH, content=payload)
            problem = check_response(resp)
            if problem:
                sys.exit(f"FAIL: warm-up request: {problem}")
            first = first or resp.content
        gc.collect()
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            try:
                resp = client.post(PATH, content=payload)
                body = resp.content
            except httpx.HTTPError:
                errors += 1
                continue
            times.append((time.perf_counter_ns() - t0) / 1e6)
            if resp.status_code != 200 or check_arrow(body) is not None:
                errors += 1
    return Result("HTTP, 1 client, keep-alive", times, errors), first


def time_http_throughput(url: str, server_pid: int, payload: bytes, seconds: float, clients: int) -> Result:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    ready = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30, headers=HEADERS) as client:
            client.post(PATH, content=payload)  # open the connection; not counted
            ready.wait()
            while time.perf_counter() < stop_at[0]:
                t0 = time.perf_counter_ns()
                try:
                    resp = client.post(PATH, content=payload)
                    body = resp.content
                except httpx.HTTPError:
                    errors[i] += 1
                    continue
                latencies[i].append((time.perf_counter_ns() - t0) / 1e6)
                if resp.status_code != 200 or check_arrow(body) is not None:
                    errors[i] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + 3600  # replaced below, once every client is connected
    ready.wait(timeout=60)
    t0, client0, server0 = time.perf_counter(), time.process_time(), cpu_seconds(server_pid)
    stop_at[0] = t0 + seconds
    for t in threads:
        t.join(timeout=seconds + 60)
    elapsed = time.perf_counter() - t0
    client_cpu, server_cpu = time.process_time() - client0, cpu_seconds(server_pid) - server0
    times = [x for per in latencies for x in per]
    return Result(f"HTTP, {clients} concurrent clients, {seconds:.0f} s", times, sum(errors),
                  {"rps": len(times) / elapsed, "elapsed": elapsed, "server_cpu": server_cpu / elapsed,
                   "client_cpu": client_cpu / elapsed})


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def time_wrk(url: str, server_pid: int, payload: bytes, seconds: float, clients: int, root: Path) -> Result | None:
    """The same load from wrk (C, one thread, `clients` keep-alive connections), so the load generator takes a
    small share of the cores the server uses. wrk does not read the answers: the sequential run checks them;
    here a non-2xx status or a socket error counts as an error. None where wrk is not installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = root / "wrk.lua"
    headers = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in HEADERS.items())
    script.write_text(f'wrk.method = "POST"\nwrk.body = [==[{payload.decode()}]==]\n{headers}')
    t0, server0 = time.perf_counter(), cpu_seconds(server_pid)
    done = subprocess.run([wrk, "-t1", f"-c{clients}", f"-d{seconds:.0f}s", "--latency", "-s", str(script),
                           url + PATH], capture_output=True, text=True, check=True)
    elapsed, server_cpu = time.perf_counter() - t0, cpu_seconds(server_pid) - server0
    out = done.stdout

    def number(pattern: str) -> float:
        found = re.search(pattern, out)
        return float(found.group(1)) if found else 0.0

    def latency(q: str) -> float:
        found = re.search(rf"^\s*{q}%\s+([\d.]+)(us|ms|s)$", out, re.MULTILINE)
        return float(found.group(1)) * _WRK_UNITS[found.group(2)] if found else float("nan")

    requests = number(r"(\d+) requests in")
    errors = number(r"Non-2xx or 3xx responses: (\d+)") + sum(
        int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Result(f"wrk, {clients} connections, {seconds:.0f} s", [], int(errors),
                  {"rps": number(r"Requests/sec:\s+([\d.]+)"), "requests": requests, "p50": latency("50"),
                   "p90": latency("90"), "p99": latency("99"), "elapsed": elapsed, "server_cpu": server_cpu / elapsed})


# ------------------------------------------------------------------------------------------ report


def machine_info() -> str:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    versions = {"polars": pl.__version__, "pyarrow": pa.__version__, "fastapi": fastapi.__version__,
                "starlette": starlette.__version__, "uvicorn": uvicorn.__version__, "httpx": httpx.__version__,
                "dagster": dg.__version__}
    for mod in ("uvloop", "httptools"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = "not installed"
    return "\n".join([
        "### Machine",
        "",
        f"- {platform.platform()}, {platform.machine()}, Python {platform.python_version()}",
        f"- cpu count {os.cpu_count()} (usable {affinity}); polars threads {pl.thread_pool_size()} "
        "(in the bench process and in the server)",
        f"- {', '.join(f'{k} {v}' for k, v in versions.items())}",
        "- server: `uvicorn --factory api.app:create_app --host 127.0.0.1` with uvicorn's defaults: 1 worker "
        "process, loop auto (uvloop), http auto (httptools), access log on (to a file); the align handler is a "
        "sync route, run in Starlette's thread pool",
        "- client and server run on the same machine and share its cores; load average at start "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} (the machine may be shared: compare runs with care)",
    ])


def row(r: Result, base: float, errors: str = "-") -> str:
    return (f"| {r.label} | {len(r.times_ms)} | {r.pct(50):.2f} | {r.pct(90):.2f} | {r.pct(99):.2f} "
            f"| {r.mean:.2f} | {r.pct(50) / base:.2f} | {errors} |")


def wrk_row(r: Result, workers: int, base: float) -> str:
    x = r.extra
    return (f"| HTTP, wrk, 1 connection (answers not read), {workers} worker(s) | {x['requests']:,.0f} | "
            f"{x['p50']:.2f} | {x['p90']:.2f} | {x['p99']:.2f} | - | {x['p50'] / base:.2f} | {r.errors} |")


def markdown(inproc: list[Result], served: list[tuple[int, Result, Result, Result | None]], quick: bool,
             body_bytes: int, long: dict[str, float] | None, one_by_wrk: list[tuple[int, Result]]) -> str:
    engine = inproc[0].pct(50)
    one = served[0][1]
    lines = [
        "### Typical align request: 5 series x 7 days of 10-second data (60,480 points each), 1-minute grid, "
        "LOCF (default tolerance 15 min), Arrow IPC answer",
        "",
        f"Answer: {ROWS:,} rows x {COLUMNS} columns, {body_bytes:,} bytes; every answer checked."
        + (" (--quick)" if quick else ""),
        "",
        "| path | runs | p50 ms | p90 ms | p99 ms | mean ms | x engine p50 | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *(row(r, engine) for r in inproc),
        *(row(replace_label(seq, f"{seq.label}, {w} worker(s)"), engine, str(seq.errors)) for w, seq, *_ in served),
        *(wrk_row(r, w, engine) for w, r in one_by_wrk),
        "",
        f"HTTP p50 (1 worker) / the engine's own compute on frames in memory: **{one.pct(50) / engine:.2f}x** "
        "(goal: at most 3x)"
        + (f"; with wrk as the one client: **{one_by_wrk[0][1].extra['p50'] / engine:.2f}x**." if one_by_wrk
           else "."),
        "",
        "| throughput | workers | requests | requests/s | x 1 client | p50 ms | p99 ms | errors | server CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workers, seq, thr, by_wrk in served:
        single = 1000 / seq.pct(50)
        lines.append(f"| {thr.label} (Python clients) | {workers} | {len(thr.times_ms):,} | {thr.extra['rps']:.1f} | "
                     f"**{thr.extra['rps'] / single:.2f}** | {thr.pct(50):.1f} | {thr.pct(99):.1f} | {thr.errors} | "
                     f"{thr.extra['server_cpu']:.2f} cores |")
        if by_wrk is not None:
            x = by_wrk.extra
            lines.append(f"| {by_wrk.label} | {workers} | {x['requests']:,.0f} | {x['rps']:.1f} | "
                         f"**{x['rps'] / single:.2f}** | {x['p50']:.1f} | {x['p99']:.1f} | {by_wrk.errors} | "
                         f"{x['server_cpu']:.2f} cores |")
    lines += ["", "x 1 client: requests/s under load against the same server's sequential one-client rate "
              "(1000 / p50); goal with 2 workers on 2 cores: at least 1.7x."]
    if long is not None:
        lines += ["", "### Long window: 10 series x 30 days of 1-second data, 1-second grid, Arrow IPC (streamed)",
                  "", "| rows | cells | bytes | seconds | server peak RSS |", "|---:|---:|---:|---:|---:|",
                  f"| {long['rows']:,.0f} | {long['cells']:,.0f} | {long['bytes']:,.0f} | {long['seconds']:.1f} | "
                  f"{long['rss']:,.0f} MiB |"]
    return "\n".join(lines)


def replace_label(result: Result, label: str) -> Result:
    return Result(label, result.times_ms, result.errors, result.extra)


LONG_SERIES = 10
LONG_DAYS = 30
LONG_START = datetime(2024, 3, 1, tzinfo=UTC)


def long_window(root: Path, env: dict[str, str], quick: bool) -> dict[str, float]:
    """30 days x 10 series of 1-second readings (a demo source, written straight into a lake), then one
    1-second align over all of it, answered as a streamed Arrow IPC stream; the server's peak memory."""
    from resources.sources.base import SeriesRef
    from resources.sources.demo import DemoSource

    days = 3 if quick else LONG_DAYS
    folder = root / "long"
    folder.mkdir()
    entries = "\n".join(f'  - {{entity: "urn:long:{i}", attribute: v, source: fast, cadence: 1s}}'
                         for i in range(LONG_SERIES))
    (folder / "catalog.yaml").write_text(
        f'partitions: {{start: "{(LONG_START - timedelta(days=1)).date()}"}}\nsources:\n'
        f"  fast: {{kind: demo, seed: 11, cadence: 1s, schedule: off}}\nseries:\n{entries}\n")
    catalog = load_catalog(folder / "catalog.yaml")
    lake = make_resources(catalog, Settings(lake=str(folder / "lake")))[LAKE]
    source = DemoSource(name="fast", seed=11, cadence="1s")
    t0 = time.perf_counter()
    for series in catalog.series:
        for d in range(-1, days):
            day = LONG_START + timedelta(days=d)
            frame = source.read(SeriesRef(series.entity, series.attribute, series.attribute), start=day,
                                end=day + timedelta(days=1))
            lake.write(lake.dataset("default", "raw", "fast", series.slug), day.date(), frame)
    print(f"long window: wrote {LONG_SERIES} series x {days + 1} days in {time.perf_counter() - t0:.0f} s",
          flush=True)
    body = {"series": [{"entity_id": s.entity, "attribute": "v"} for s in catalog.series],
            "start_time": LONG_START.isoformat(), "end_time": (LONG_START + timedelta(days=days)).isoformat(),
            "resolution": "1s", "tolerance": "2s"}
    long_env = {**env, "DATAHUB_CATALOG": str(folder / "catalog.yaml"), "DATAHUB_LAKE": str(folder / "lake"),
                "DATAHUB_REQUEST_TIMEOUT": "600"}
    with api_server(long_env, root / "uvicorn-long.log") as (url, pid):
        t0 = time.perf_counter()
        size = rows = 0
        with httpx.stream("POST", f"{url}{PATH}", json=body, headers={"Accept": ARROW}, timeout=900) as answer:
            if answer.status_code != 200:
                sys.exit(f"FAIL: long window: HTTP {answer.status_code}: {answer.read()[:300]!r}")
            chunks = []
            for chunk in answer.iter_raw():
                size += len(chunk)
                chunks.append(chunk)
        seconds = time.perf_counter() - t0
        rss = peak_rss_mib(pid)
    reader = pa.ipc.open_stream(b"".join(chunks))
    for batch in reader:
        rows += batch.num_rows
    if rows != days * 86_400:
        sys.exit(f"FAIL: long window: {rows:,} rows, expected {days * 86_400:,}")
    return {"rows": rows, "cells": rows * LONG_SERIES, "bytes": size, "seconds": seconds, "rss": rss}


# ------------------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50 runs per path and 3 s of load instead of 200 / 10 s")
    parser.add_argument("--no-long", action="store_true", help="skip the 30-day, 1-second long-window request")
    args = parser.parse_args(argv)
    reps, warmup, seconds = (50, 5, 3.0) if args.quick else (200, 20, 10.0)
    began = time.perf_counter()
    sections = [f"## API benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", "", machine_info()]
    print("\n".join(sections), flush=True)

    with tempfile.TemporaryDirectory(prefix="datahub-bench-api-") as tmp:
        root = Path(tmp)
        write_sites(root, np.random.default_rng(20240101))
        catalog_path = write_catalog(root)
        home = prepare_home(root / "dagster_home")  # also sets DAGSTER_HOME for this process
        settings = Settings(catalog=catalog_path, lake=str(root / "lake"), dagster_home=home,
                            exports_dir=root / "exports")
        t0 = time.perf_counter()
        with quiet_stderr(root / "materialize.log"):
            days = materialize(catalog_path, settings)
        print(f"\nmaterialized {len(SPECS)} series x {len(days)} days ({days[0]}..{days[-1]}) in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)

        catalog = load_catalog(catalog_path)
        fetches: list[str] = []
        with dg.build_resources(make_resources(catalog, settings)) as built:
            lake = getattr(built, LAKE)
            through = ReadThrough(lake, catalog, built, on_fetch=fetches.append)
            context = Context(catalog=catalog, lake=lake, through=through, settings=settings, metrics=None,
                              budget=MemoryBudget(settings.max_bytes_in_flight), cache=PartitionCache())
            inproc = InProcess(catalog, context, fetches)
            want = inproc.read_align_arrow()
            problem = check_arrow(want)
            if problem:
                sys.exit(f"FAIL: in process: {problem}")
            if inproc.service_arrow() != want:
                sys.exit("FAIL: align_request's Arrow stream differs from read_many + align's")
            points = [f.height for f in pl.collect_all(read_many(lake, catalog, resolve_series(
                catalog, TENANT, AlignRequest.model_validate(BODY).series), start=START, end=END, carry=timedelta(0)))]
            if points != [ROWS * 6] * len(SPECS):
                sys.exit(f"FAIL: expected {ROWS * 6:,} points per series in the window, got {points}")

            env = {k: v for k, v in os.environ.items()
                   if k not in ("DATAHUB_JWT_SECRET", "DATAHUB_JWKS_URL", "DAGSTER_PG_HOST")}
            env.update(DATAHUB_CATALOG=str(catalog_path), DATAHUB_LAKE=str(root / "lake"), DAGSTER_HOME=str(home),
                       DATAHUB_EXPORTS_DIR=str(root / "exports"))
            t0 = time.perf_counter()
            results = [
                time_block("in process: engine only, on frames in memory", inproc.engine_only(), reps, warmup),
                time_block("in process: read_many (lake) + align", inproc.read_align, reps, warmup),
                time_block("in process: read_many (partition cache) + align", inproc.cached_read_align, reps,
                           warmup),
                time_block("in process: service.align_request + Arrow IPC", inproc.service_arrow, reps, warmup),
            ]
            payload = json.dumps(BODY).encode()
            served: list[tuple[int, Result, Result, Result | None]] = []
            one_by_wrk: list[tuple[int, Result]] = []  # the server's latency with a client that costs little
            for workers in (1, 2):
                with api_server(env, root / f"uvicorn-{workers}.log", workers=workers) as (url, pid):
                    print(f"API up at {url} with {workers} worker(s) in {time.perf_counter() - t0:.1f} s",
                          flush=True)
                    seq, first = time_http_sequential(url, payload, reps, warmup)
                    if first != want:
                        sys.exit("FAIL: the HTTP answer differs from the in-process Arrow stream")
                    single = time_wrk(url, pid, payload, seconds / 2, 1, root)
                    if single is not None:
                        one_by_wrk.append((workers, single))
                    thr = time_http_throughput(url, pid, payload, seconds, CONCURRENCY)
                    by_wrk = time_wrk(url, pid, payload, seconds, CONCURRENCY, root)
                    fetched = read_through_fetches(url)
                if fetched or fetches:
                    sys.exit(f"FAIL: read-through happened (server {fetched:.0f}, in process {len(fetches)})")
                served.append((workers, seq, thr, by_wrk))
                t0 = time.perf_counter()
        long = None if args.no_long else long_window(root, env, args.quick)

    table = markdown(results, served, args.quick, len(want), long, one_by_wrk)
    print("\n" + table, flush=True)
    sections += ["", table]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(sections) + "\n")
    print(f"\nwritten to {RESULTS} (total {time.perf_counter() - began:.0f} s)")
    errors = sum(seq.errors + thr.errors + (w.errors if w else 0) for _, seq, thr, w in served) + sum(
        r.errors for _, r in one_by_wrk)
    if errors:
        sys.exit(f"FAIL: {errors} failed requests")


if __name__ == "__main__":
    main()
