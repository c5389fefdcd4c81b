"""The README tells a newcomer the truth: its settings, routes, error statuses and examples are the code's."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from click.testing import CliRunner

from api.app import create_app
from datahub_assets.cli import main
from datahub_assets.definitions import build_definitions
from resources.catalog import load_catalog
from resources.settings import Settings, variable_names

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text under a heading, up to the next heading of the same or a higher level."""
    level = len(title.split(" ")[0])
    start = README.index(f"\n{title}\n") + 1
    for match in re.finditer(r"^(#+) ", README[start + len(title):], flags=re.M):
        if len(match.group(1)) <= level:
            return README[start: start + len(title) + match.start()]
    return README[start:]


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the first table in the text."""
    block: list[str] = []
    for line in text.splitlines():
        if line.startswith("|"):
            block.append(line)
        elif block:
            break
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in block[2:]]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_every_setting_is_documented_and_every_documented_one_exists() -> None:
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", " ".join(r[0] for r in table_rows(section("## Settings")))))
    read = variable_names()
    deploy = set(re.findall(r"env: (DAGSTER_PG_[A-Z]+)", (ROOT / "deploy" / "dagster.postgres.yaml").read_text()))
    assert read - documented == set(), "settings the README does not list"
    assert documented - read - deploy == set(), "settings the README lists that nothing reads"


def test_the_api_table_lists_exactly_the_routes() -> None:
    spec = create_app().openapi()
    routes = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    routes.add(("GET", "/metrics"))  # served beside the API, not part of its OpenAPI document
    documented = {(row[0], row[1].strip("`")) for row in table_rows(section("## The API"))}
    assert documented == routes


def test_the_error_table_lists_exactly_the_statuses_the_code_answers() -> None:
    code = "\n".join(p.read_text() for p in (ROOT / "api").rglob("*.py"))
    answered = {int(n) for n in re.findall(r"ApiError\((\d{3})", code)}
    answered |= {int(n) for n in re.findall(r"status_code=200 if ok else (\d{3})", code)}
    documented = {int(row[0]) for row in table_rows(section("### Errors"))}
    assert documented == answered


def test_the_catalog_example_loads_and_builds(tmp_path: Path) -> None:
    example = code_blocks(section("## The catalog"), "yaml")[0]
    assert yaml.safe_load(example)["partitions"] == {"start": "2017-01-01", "end": "2017-01-14"}
    (tmp_path / "catalog.yaml").write_text(example)
    catalog = load_catalog(tmp_path / "catalog.yaml")
    assert [s.id for s in catalog.series] == ["urn:city:zone1.power"]
    defs = build_definitions(catalog, Settings(lake=str(tmp_path / "lake")))
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw/city/urn_city_zone1_power", "grid/city_hourly", "export/city_hourly_parquet"} <= keys


def test_the_commands_the_readme_names_exist() -> None:
    names = set(re.findall(r"^- `datahub (\w+)", section("## The `datahub` command"), flags=re.M))
    assert names == set(main.commands) == {"validate", "materialize", "serve", "up"}
    for name in names:
        assert CliRunner().invoke(main, [name, "--help"]).exit_code == 0
