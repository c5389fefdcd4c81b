"""The page's server side: the built files under /canvas/, its config, and the entities' asset links."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from api.routes.canvas import NOT_BUILT, PAGE_DIR, PageFiles
from tests.api.conftest import LiveApi, free_port, serve
from tests.canvas.conftest import DAGSTER_UI

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_canvas_redirects_to_the_page_and_keeps_the_query(api: LiveApi) -> None:
    response = api.client.get("/canvas?s=plant|urn:demo:plant1|output&res=1h", follow_redirects=False)
    assert response.status_code == 307
    assert unquote(response.headers["location"]) == f"{api.url}/canvas/?s=plant|urn:demo:plant1|output&res=1h"
    page = api.client.get("/canvas/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert "<title>DataHub · Data canvas</title>" in page.text


def test_bundles_are_built_files_of_this_api_only(api: LiveApi) -> None:
    """No CDN: every script, style and icon of the page is a file of the build, served by the API."""
    page = api.client.get("/canvas/").text
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert refs and all(ref.startswith("./") for ref in refs), refs
    for ref in refs:
        response = api.client.get(f"/canvas/{ref[2:]}")
        assert response.status_code == 200, ref
        if ref.startswith("./assets/"):
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    bundles = [p for p in (PAGE_DIR / "assets").iterdir() if p.suffix == ".js"]
    assert bundles
    for bundle in bundles:  # nothing fetched from elsewhere at run time
        text = bundle.read_text()
        assert not re.search(r"""(?:import\(|fetch\(|src=)\s*["']https?://""", text), bundle.name


def test_config_names_the_dagster_ui_and_the_auth_mode(api: LiveApi) -> None:
    assert api.client.get("/canvas/config.json").json() == {"dagster_ui_url": DAGSTER_UI, "auth": "none"}
    assert "/canvas/config.json" not in api.client.get("/openapi.json").json()["paths"]


def test_unknown_file_is_a_404(api: LiveApi) -> None:
    response = api.client.get("/canvas/assets/nothing-here.js")
    assert response.status_code == 404 and "error" in response.json()


def test_entities_name_each_series_asset_and_cadence(api: LiveApi) -> None:
    entities = {e["id"]: e for e in api.client.get("/api/datahub/entities").json()["entities"]}
    zone1 = entities["urn:tetouan:zone1"]["attributes"][0]
    assert zone1["asset"] == "raw/tetouan/urn_tetouan_zone1_power"
    assert zone1["cadence"] == "10m"
    plant = {a["name"]: a for a in entities["urn:demo:plant1"]["attributes"]}
    assert plant["output"]["asset"] == "raw/plant/urn_demo_plant1_output" and plant["output"]["cadence"] == "1m"


def test_a_missing_build_answers_503_naming_the_set_up_step(tmp_path: Path) -> None:
    app = Starlette(routes=[Mount("/canvas", PageFiles(tmp_path / "absent"), name="canvas")])
    with serve(app, free_port()) as url:
        for path in ("/canvas/", "/canvas/index.html", "/canvas/assets/x.js"):
            response = httpx.get(f"{url}{path}", timeout=10)
            assert response.status_code == 503 and response.json() == {"error": NOT_BUILT}
