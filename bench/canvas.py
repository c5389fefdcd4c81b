"""Data canvas benchmark: time from navigation to a drawn chart, in headless Chromium against the real API.

Run by hand from the project root (after `bash scripts/setup.sh`, which builds the page and installs Chromium):

    .venv/bin/python bench/canvas.py [--quick]

Set-up, in a temporary folder: a catalog of two `demo` sources, `site` (5 series every 10 s: power, temperature,
humidity, power, voltage; four units, so four y axes) and `fast` (1 series every second), materialized in
process into a local lake: `site` for 2024-01-01..07, `fast` for 2024-01-01..30. The API runs as its own
process (`uvicorn --factory api.app:create_app`, 1 worker) with read-through switched off
(`DATAHUB_READ_THROUGH_MAX_DAYS=0`), so every answer comes from the lake; no fetch is checked on `/metrics`.

Scenarios, each a shared link of the page opened in a 1400 x 900 viewport, resolution `auto`:
- 5 series x 7 days of 10-second data (60,480 points each, 302,400 in all);
- 1 series x 30 days of 1-second data (2,592,000 points).
The page asks for one bucket per pixel column (`minmax`, or `mean` where the API does not list it).

Measured per navigation (2 warm-ups, then N; the browser's cache is warm after the first load, as for a
user who opens a second link): `window.__canvas.firstDrawnAt`, which is `performance.now()` (milliseconds
since the navigation started) when uPlot's draw hook first fires; the align request's own span from the
Resource Timing entry; and what was drawn (rows, method, columns). The very first navigation (cold cache) is
reported on its own. Tables go to stdout and to bench/results/canvas.md. Goals: under 300 ms (5 x 7 days)
and under 600 ms (30 days at 1 s).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

# Run as a script, this file's folder comes first on sys.path, where bench/api.py would shadow the project's
# `api` package. Drop that folder before importing the project.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != Path(__file__).resolve().parent]

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from api.routes.canvas import PAGE_DIR  # noqa: E402
from datahub_assets.definitions import build_definitions  # noqa: E402
from datahub_assets.instance import prepare_home  # noqa: E402
from datahub_assets.materialize import materialize_partitions  # noqa: E402
from resources.catalog import load_catalog  # noqa: E402
from resources.settings import Settings  # noqa: E402


def _bench_api() -> Any:
    """bench/api.py's server and logging helpers (one way to start and stop the API in benchmarks)."""
    spec = importlib.util.spec_from_file_location("bench_api", Path(__file__).resolve().parent / "api.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench_api = _bench_api()

RESULTS = Path(__file__).resolve().parent / "results" / "canvas.md"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
VIEWPORT = {"width": 1400, "height": 900}
START = date(2024, 1, 1)

CATALOG = """\
partitions: {start: "2024-01-01"}
sources:
  site: {kind: demo, seed: 11, cadence: 10s}
  fast: {kind: demo, seed: 12, cadence: 1s}
series:
  - {entity: "urn:bench:site1", attribute: power, source: site, unit: kW, cadence: 10s}
  - {entity: "urn:bench:site1", attribute: temperature, source: site, unit: degC, cadence: 10s}
  - {entity: "urn:bench:site1", attribute: humidity, source: site, unit: "%", cadence: 10s}
  - {entity: "urn:bench:site2", attribute: power, source: site, unit: kW, cadence: 10s}
  - {entity: "urn:bench:site2", attribute: voltage, source: site, unit: V, cadence: 10s}
  - {entity: "urn:bench:meter", attribute: current, source: fast, unit: A, cadence: 1s}
"""


@dataclass(frozen=True)
class Scenario:
    label: str
    source: str
    series: tuple[str, ...]  # page keys: source|entity|attribute
    days: int
    cadence_s: int
    goal_ms: float

    @property
    def points(self) -> int:
        return len(self.series) * self.days * 86_400 // self.cadence_s

    def link(self, base: str) -> str:
        end = START + timedelta(days=self.days)
        query = [("s", s) for s in self.series] + [("from", f"{START.isoformat()}T00:00:00Z"),
                                                   ("to", f"{end.isoformat()}T00:00:00Z")]
        return f"{base}/canvas/?{urlencode(query)}"


SCENARIOS = [
    Scenario("5 series x 7 days, 10 s", "site", (
        "site|urn:bench:site1|power", "site|urn:bench:site1|temperature", "site|urn:bench:site1|humidity",
        "site|urn:bench:site2|power", "site|urn:bench:site2|voltage"), 7, 10, 300.0),
    Scenario("1 series x 30 days, 1 s", "fast", ("fast|urn:bench:meter|current",), 30, 1, 600.0),
]


@dataclass
class Load:
    total_ms: float  # navigation start -> first draw
    align_ms: float  # the align request, from its start to its last byte
    after_ms: float  # last byte of the answer -> drawn (Arrow decode, chart build, first draw)
    before_ms: float  # navigation start -> align request start (page, bundle, config, OpenAPI, entities)
    rows: int
    method: str
    resolution: Any
    answer_bytes: int


@dataclass
class Result:
    scenario: Scenario
    cold: Load
    loads: list[Load] = field(default_factory=list)

    def pct(self, attr: str, q: float) -> float:
        return float(np.percentile([getattr(x, attr) for x in self.loads], q))


def materialize(catalog_path: Path, settings: Settings) -> None:
    defs = build_definitions(load_catalog(catalog_path), settings)
    for scenario in SCENARIOS:
        days = [(START + timedelta(days=i)).isoformat() for i in range(scenario.days)]
        failed = materialize_partitions(f"key:raw/{scenario.source}/*", days, defs=defs, echo=lambda _: None)
        if failed:
            sys.exit(f"FAIL: materialization of {scenario.source} failed for {failed}")


MEASURE = """() => {
  const p = window.__canvas;
  const align = performance.getEntriesByType('resource').filter(e => e.name.includes('/timeseries/align'));
  const last = align[align.length - 1];
  const q = p.queries[p.queries.length - 1];
  return {total: p.firstDrawnAt, start: last.startTime, end: last.responseEnd, bytes: last.encodedBodySize,
          rows: p.rows, method: q.method, resolution: q.resolution, state: p.state, error: p.error};
}"""


def navigate(page: Page, url: str, scenario: Scenario) -> Load:
    page.goto(url)
    page.wait_for_function("() => window.__canvas && (window.__canvas.firstDrawnAt !== null"
                           " || ['error', 'empty'].includes(window.__canvas.state))", timeout=60_000)
    m = page.evaluate(MEASURE)
    if m["state"] != "drawn":
        sys.exit(f"FAIL: {scenario.label}: the page ended in {m['state']!r}: {m['error']}")
    if m["rows"] < 100 or m["rows"] > 3 * VIEWPORT["width"]:
        sys.exit(f"FAIL: {scenario.label}: {m['rows']} rows drawn; expected about one or two per pixel column")
    return Load(total_ms=m["total"], align_ms=m["end"] - m["start"], after_ms=m["total"] - m["end"],
                before_ms=m["start"], rows=m["rows"], method=m["method"], resolution=m["resolution"],
                answer_bytes=m["bytes"])


def machine_info() -> str:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return "\n".join([
        "### Machine",
        "",
        f"- {platform.platform()}, {platform.machine()}, Python {platform.python_version()}",
        f"- cpu count {os.cpu_count()} (usable {affinity}); browser, API and this script share them; load average "
        f"at start {', '.join(f'{x:.2f}' for x in os.getloadavg())} (the machine may be shared)",
        "- API: `uvicorn --factory api.app:create_app --host 127.0.0.1`, 1 worker, lake only (read-through off)",
        f"- browser: {CHROMIUM} (Debian's Chromium), headless, viewport {VIEWPORT['width']} x {VIEWPORT['height']}",
    ])


def markdown(results: list[Result], runs: int) -> str:
    lines = [
        "### Navigation to drawn chart (resolution `auto`)",
        "",
        f"{runs} navigations per scenario after 2 warm-ups (warm browser cache); times in ms since the "
        "navigation started.",
        "",
        "| scenario | raw points | drawn rows | method, columns | answer bytes | p50 | p90 | max | goal | "
        "align request p50 | page before align p50 | decode + draw p50 | first load (cold) |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s, first = r.scenario, r.loads[0]
        met = "met" if r.pct("total_ms", 50) < s.goal_ms else "missed"
        lines.append(
            f"| {s.label} | {s.points:,} | {first.rows:,} | {first.method}, {first.resolution} | "
            f"{first.answer_bytes:,} | **{r.pct('total_ms', 50):.0f}** | {r.pct('total_ms', 90):.0f} | "
            f"{max(x.total_ms for x in r.loads):.0f} | < {s.goal_ms:.0f} ({met}) | {r.pct('align_ms', 50):.0f} | "
            f"{r.pct('before_ms', 50):.0f} | {r.pct('after_ms', 50):.0f} | {r.cold.total_ms:.0f} |")
    lines += [
        "",
        "`align request`: from the request's start to the answer's last byte (Resource Timing); `page before "
        "align`: the document, the bundle, config.json, the OpenAPI document and the entities; `decode + draw`: "
        "Arrow decoding with flechette, building the uPlot chart and its first draw.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 navigations per scenario instead of 20")
    args = parser.parse_args(argv)
    runs = 5 if args.quick else 20
    if not (PAGE_DIR / "index.html").is_file():
        sys.exit(f"FAIL: the canvas page is not built ({PAGE_DIR}); run `bash scripts/setup.sh`")
    if not CHROMIUM.exists():
        sys.exit(f"FAIL: {CHROMIUM} not found; run `bash scripts/setup.sh`")
    began = time.perf_counter()
    sections = [f"## Data canvas benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", "", machine_info()]
    print("\n".join(sections), flush=True)

    with tempfile.TemporaryDirectory(prefix="datahub-bench-canvas-") as tmp:
        root = Path(tmp)
        catalog_path = root / "catalog.yaml"
        catalog_path.write_text(CATALOG)
        home = prepare_home(root / "dagster_home")
        settings = Settings(catalog=catalog_path, lake=str(root / "lake"), dagster_home=home,
                            exports_dir=root / "exports")
        t0 = time.perf_counter()
        with bench_api.quiet_stderr(root / "materialize.log"):
            materialize(catalog_path, settings)
        print(f"\nmaterialized in {time.perf_counter() - t0:.1f} s", flush=True)

        env = {k: v for k, v in os.environ.items()
               if k not in ("DATAHUB_JWT_SECRET", "DATAHUB_JWKS_URL", "DAGSTER_PG_HOST")}
        env.update(DATAHUB_CATALOG=str(catalog_path), DATAHUB_LAKE=str(root / "lake"), DAGSTER_HOME=str(home),
                   DATAHUB_EXPORTS_DIR=str(root / "exports"), DATAHUB_READ_THROUGH_MAX_DAYS="0")
        results: list[Result] = []
        with bench_api.api_server(env, root / "uvicorn.log") as (url, _pid), sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(root / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
                viewport=VIEWPORT)
            try:
                page = context.new_page()
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                for scenario in SCENARIOS:
                    link = scenario.link(url)
                    cold = navigate(page, link, scenario)
                    for _ in range(2):
                        navigate(page, link, scenario)
                    result = Result(scenario, cold, [navigate(page, link, scenario) for _ in range(runs)])
                    print(f"{scenario.label}: p50 {result.pct('total_ms', 50):.0f} ms "
                          f"(median of {statistics.median(x.rows for x in result.loads):.0f} rows, "
                          f"{result.loads[0].method})", flush=True)
                    results.append(result)
                if errors:
                    sys.exit(f"FAIL: console errors: {errors}")
            finally:
                context.close()
            fetched = bench_api.read_through_fetches(url)
        if fetched:
            sys.exit(f"FAIL: {fetched:.0f} read-through fetches: not every day was in the lake")

    table = markdown(results, runs)
    print("\n" + table, flush=True)
    sections += ["", table + (" (--quick)" if args.quick else "")]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(sections) + "\n")
    print(f"\nwritten to {RESULTS} (total {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
