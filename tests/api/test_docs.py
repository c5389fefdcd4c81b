"""/docs and /redoc work offline: every script, style and icon they load comes from the API itself."""

from __future__ import annotations

import json
import re
from urllib.parse import urljoin, urlsplit

import pytest

from tests.api.conftest import LiveApi
from tests.test_readme import code_blocks, section

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']|spec-url=["']([^"']+)["']""")
TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


@pytest.mark.parametrize(("page", "least"), [("/docs", 3), ("/redoc", 2)])
def test_page_loads_every_asset_from_the_api(api: LiveApi, page: str, least: int) -> None:
    html = api.client.get(page)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    urls = {next(g for g in m.groups() if g) for m in ASSET.finditer(html.text)}
    urls = {u for u in urls if not u.startswith("#")}
    assert len(urls) >= least, urls
    for url in sorted(urls):
        absolute = urljoin(api.url + page, url)
        assert urlsplit(absolute).netloc == urlsplit(api.url).netloc, f"{page} loads {url} from another host"
        answer = api.client.get(absolute)
        assert answer.status_code == 200, url
        suffix = next((s for s in TYPES if urlsplit(url).path.endswith(s)), None)
        if suffix:
            assert TYPES[suffix] in answer.headers["content-type"], (url, answer.headers["content-type"])
        assert len(answer.content) > 100, url
    assert "cdn" not in html.text.lower() and "fonts.googleapis" not in html.text


def test_the_align_example_answers(api: LiveApi) -> None:
    (body,) = code_blocks(section("## The API"), "json")
    answer = api.client.post("/api/datahub/timeseries/align", json=json.loads(body))
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert [c["entity_id"] for c in got["columns"]] == ["urn:tetouan:zone1", "urn:demo:plant1"]
    assert len(got["timestamps"]) == 1440
