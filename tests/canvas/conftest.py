"""The data canvas in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against a live API.

The API is the one of tests/api (uvicorn on 127.0.0.1, the test catalog with `tetouan` (file), `plant` (demo)
and the tenant `acme`), with 2017-01-01..03 materialized.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import dagster as dg
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, sync_playwright

from api.routes.canvas import PAGE_DIR
from datahub_assets.definitions import build_definitions
from datahub_assets.materialize import materialize_partitions
from resources.catalog import load_catalog
from resources.settings import Settings
from tests.api.conftest import MATERIALIZED, LiveApi, start_api, write_catalog

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# The closed network otherwise answers Chromium's own background connections with errors.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
ARTIFACTS = Path(os.environ.get("DATAHUB_TEST_ARTIFACTS", ROOT / ".datahub" / "test-artifacts"))
DAGSTER_UI = "http://127.0.0.1:3999/dagster"
TIMEOUT_MS = 20_000

ZONE1 = "tetouan|urn:tetouan:zone1|power"
WEATHER = "tetouan|urn:tetouan:weather|temperature"
PLANT_OUT = "plant|urn:demo:plant1|output"
PLANT_TEMP = "plant|urn:demo:plant1|temperature"
DAY1 = {"from": "2017-01-02T00:00:00Z", "to": "2017-01-03T00:00:00Z"}


def build_page_or_fail() -> None:
    if not (PAGE_DIR / "index.html").is_file():
        pytest.fail(f"the canvas page is not built ({PAGE_DIR}): run `bash scripts/setup.sh`")


@pytest.fixture(scope="package")
def canvas_instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def live_api(tmp: Path, instance: dg.DagsterInstance, **overrides: object) -> Iterator[LiveApi]:
    path = write_catalog(tmp)
    defs = build_definitions(load_catalog(path), Settings(lake=str(tmp / "lake")))
    assert materialize_partitions("key:raw/*", MATERIALIZED, defs=defs, instance=instance, echo=lambda _: None) == []
    yield from start_api(tmp, path, instance, dagster_ui_url=DAGSTER_UI, **overrides)


@pytest.fixture(scope="package")
def api(tmp_path_factory: pytest.TempPathFactory, canvas_instance: dg.DagsterInstance) -> Iterator[LiveApi]:
    build_page_or_fail()
    yield from live_api(tmp_path_factory.mktemp("canvas"), canvas_instance)


@pytest.fixture(scope="package")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: `bash scripts/setup.sh` installs Debian's chromium")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            accept_downloads=True,
            viewport={"width": 1400, "height": 900},
            timezone_id="Europe/Berlin",  # the page shows UTC whatever the browser's zone
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@dataclass
class Canvas:
    """One page of the canvas, with what it logged and asked for."""

    page: Page
    base: str
    errors: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def open(self, *series: str, hash: str = "", **params: str) -> None:
        query = urlencode([("s", s) for s in series] + list(params.items()))
        self.page.goto(f"{self.base}/canvas/?{query}{hash}")
        self.page.wait_for_function("window.__canvas && window.__canvas.state !== 'idle' || "
                                    "document.querySelector('#tree input, #tree .empty') !== null")

    def probe(self, expr: str = "") -> Any:
        """`window.__canvas` (JSON-safe parts) or an expression on it."""
        if expr:
            return self.page.evaluate(f"() => {{ const p = window.__canvas; return {expr}; }}")
        return self.page.evaluate(
            "() => { const {plot, ...rest} = window.__canvas; return rest; }")

    def wait_drawn(self, queries: int = 1) -> dict[str, Any]:
        """Until the answer to the `queries`-th align request is drawn (or the page settled otherwise)."""
        self.page.wait_for_function(
            f"() => {{ const p = window.__canvas; return p.queries.length >= {queries} && "
            "['drawn', 'empty', 'error'].includes(p.state); }")
        state = self.probe()
        assert state["state"] == "drawn", state
        return state

    def last_query(self) -> dict[str, Any]:
        queries = self.probe("p.queries")
        assert queries, "no align request was made"
        return dict(queries[-1])

    def pick(self, key: str) -> None:
        self.page.locator(f'#tree input[data-series="{key}"]').check()

    def pixels(self, color: str, x_from: float | None = None, x_to: float | None = None,
               y_from: float = 0.0, y_to: float = 1.0, tolerance: int = 40) -> int:
        """Pixels of the plot area (optionally between two x values, and a fraction of its height) whose
        colour is within `tolerance` of `color` on each channel."""
        return int(self.page.evaluate(
            """([color, xFrom, xTo, yFrom, yTo, tol]) => {
                const u = window.__canvas.plot;
                const ctx = u.ctx;
                const {left, top, width, height} = u.bbox;
                const ratio = width / u.over.clientWidth;
                const l = xFrom === null ? left : left + u.valToPos(xFrom, 'x') * ratio;
                const r = xTo === null ? left + width : left + u.valToPos(xTo, 'x') * ratio;
                const t = top + yFrom * height, b = top + yTo * height;
                const img = ctx.getImageData(Math.round(l), Math.round(t), Math.max(1, Math.round(r - l)),
                                             Math.max(1, Math.round(b - t))).data;
                const n = parseInt(color.slice(1), 16);
                const want = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
                let count = 0;
                for (let i = 0; i < img.length; i += 4) {
                    if (img[i + 3] > 200 && Math.abs(img[i] - want[0]) <= tol && Math.abs(img[i + 1] - want[1]) <= tol
                        && Math.abs(img[i + 2] - want[2]) <= tol) count++;
                }
                return count;
            }""", [color, x_from, x_to, y_from, y_to, tolerance]))

    def drag(self, start: float, end: float) -> None:
        """Drags across the plot from one fraction of its width to another."""
        box = self.page.locator("#chart .u-over").bounding_box()
        assert box is not None
        y = box["y"] + box["height"] / 2
        self.page.mouse.move(box["x"] + box["width"] * start, y)
        self.page.mouse.down()
        self.page.mouse.move(box["x"] + box["width"] * (start + end) / 2, y, steps=5)
        self.page.mouse.move(box["x"] + box["width"] * end, y, steps=5)
        self.page.mouse.up()

    def assert_clean(self) -> None:
        """No console error, no uncaught exception, nothing asked of any host but the API."""
        assert self.errors == []
        hosts = {urlsplit(r.url).netloc for r in self.requests if not r.url.startswith(("data:", "blob:"))}
        assert hosts == {urlsplit(self.base).netloc}, hosts


@pytest.fixture
def canvas_for(browser: BrowserContext) -> Iterator[Callable[[LiveApi], Canvas]]:
    pages: list[Page] = []

    def make(live: LiveApi) -> Canvas:
        page = browser.new_page()
        pages.append(page)
        canvas = Canvas(page, live.url)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                canvas.errors.append(f"console: {message.text} ({message.location.get('url')})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: canvas.errors.append(f"page error: {exc}"))
        page.on("request", lambda request: canvas.requests.append(request))
        return canvas

    yield make
    for page in pages:
        page.close()


@pytest.fixture
def canvas(api: LiveApi, canvas_for: Callable[[LiveApi], Canvas]) -> Canvas:
    return canvas_for(api)


def hex_color(css: str) -> str:
    match = re.fullmatch(r"#[0-9a-fA-F]{6}", css)
    assert match, css
    return css.lower()
