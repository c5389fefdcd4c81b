"""The plugin contract, as a user meets it: the example package's source kind, named in a catalog, checked at
load, built by the registry, read by the assets and the API's read-through; classes off the contract refused."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from resources.catalog import CatalogError, load_catalog
from resources.registry import make_resources, source_key
from resources.settings import Settings
from resources.sources.base import SeriesRef, Source

ROOT = Path(__file__).resolve().parents[3]
KIND = "datahub_jsonl.source:JsonLinesSource"


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The example package on the path (as `pip install -e examples/jsonl_plugin` puts it) and a catalog."""
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "jsonl_plugin"))
    folder = tmp_path / "lab"
    folder.mkdir()
    lines = [{"t": f"2024-01-0{d}T{h:02d}:00:00Z", "temp": 20 + h, "rh": 50.0} for d in (1, 2) for h in (0, 12)]
    (folder / "urn%3Alab%3A1.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent(f"""\
        partitions: {{start: "2024-01-01", end: "2024-01-02"}}
        sources:
          lab: {{kind: "{KIND}", folder: lab}}
        series:
          - {{entity: "urn:lab:1", attribute: temp, source: lab}}
        """).replace("folder: lab", f"folder: {folder}"))
    yield tmp_path


def test_the_example_plugin_reads_and_discovers(plugin: Path) -> None:
    catalog = load_catalog(plugin / "catalog.yaml")
    source = make_resources(catalog, Settings(lake=str(plugin / "lake")))[source_key("lab")]
    assert isinstance(source, Source) and type(source).__name__ == "JsonLinesSource"
    day = source.read(SeriesRef("urn:lab:1", "temp", "temp"), start=datetime(2024, 1, 2, tzinfo=UTC),
                      end=datetime(2024, 1, 3, tzinfo=UTC))
    assert day["value"].to_list() == [20.0, 32.0]
    assert source.entities() == [SeriesRef("urn:lab:1", "temp", "temp"), SeriesRef("urn:lab:1", "rh", "rh")]


def test_the_plugin_serves_assets_and_read_through(plugin: Path) -> None:
    import dagster as dg

    from datahub_assets.definitions import build_definitions
    from datahub_assets.materialize import materialize_partitions
    from datahub_assets.window import ReadThrough, read_many
    from resources.registry import LAKE

    catalog = load_catalog(plugin / "catalog.yaml")
    settings = Settings(lake=str(plugin / "lake"))
    with dg.instance_for_test() as instance:
        defs = build_definitions(catalog, settings)
        assert materialize_partitions("*", ["2024-01-01"], defs=defs, instance=instance, echo=lambda _: None) == []
    with dg.build_resources(make_resources(catalog, settings)) as built:
        lake = getattr(built, LAKE)
        through = ReadThrough(lake, catalog, built, clock=lambda: datetime(2024, 1, 5, tzinfo=UTC))
        (frame,) = read_many(lake, catalog, catalog.series, start=datetime(2024, 1, 1, tzinfo=UTC),
                             end=datetime(2024, 1, 3, tzinfo=UTC), carry=None, through=through,
                             forwarded={"authorization": "Bearer x"})
        assert frame.collect()["value"].to_list() == [20.0, 32.0, 20.0, 32.0]  # day 1 stored, day 2 fetched


class OldContract(Source):
    def read(self, series: SeriesRef, *, start: datetime, end: datetime):  # type: ignore[no-untyped-def,override]
        raise AssertionError("never called")


class NoRead(Source):
    pass


@pytest.mark.parametrize(("kind", "reason"), [
    (f"{__name__}:OldContract", "its read() lacks the parameter(s) forwarded"),
    (f"{__name__}:NoRead", "does not implement read()"),
    ("pathlib:Path", "is not a subclass of resources.sources.base.Source"),
])
def test_classes_off_the_contract_are_refused_at_load(tmp_path: Path, kind: str, reason: str) -> None:
    (tmp_path / "c.yaml").write_text(f"partitions: {{start: '2024-01-01'}}\nsources:\n  x: {{kind: '{kind}'}}\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path / "c.yaml")
    assert info.value.key_path == "sources.x.kind" and reason in info.value.reason


@pytest.mark.parametrize(("change", "key", "reason"), [
    ("lab: {colour: red, ", "sources.lab.colour", "Extra inputs"),  # a key the class does not declare
    ("lab: {time_key: '', ", "sources.lab.time_key", "must not be empty"),  # its own check_entry
])
def test_plugin_keys_are_checked_at_load(plugin: Path, change: str, key: str, reason: str) -> None:
    catalog = plugin / "catalog.yaml"
    catalog.write_text(catalog.read_text().replace("lab: {", change))
    with pytest.raises(CatalogError) as info:
        load_catalog(catalog)
    assert info.value.key_path == key and reason in info.value.reason
