"""The catalog loader: validated models, `${ENV}` references, errors naming file, line, key path, reason."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from resources.catalog import CatalogError, EnvRef, load_catalog, slugify
from resources.settings import DEMO_CATALOG

GOOD = """\
partitions: {start: "2017-01-01"}
sources:
  city:
    kind: file
    path: data/city.csv
    timestamp_column: DateTime
    timestamp_format: "%m/%d/%y %H:%M"
    timezone: Africa/Casablanca
  platform: {kind: http, url: "${PLATFORM_URL}", timeout: 5s}
  sim: {kind: demo, seed: 3, cadence: 10s}
series:
  - entity: urn:city:zone1
    attribute: power
    source: city
    column: Zone 1 Power Consumption
    unit: kW
    cadence: 10m
    checks: {min: 0, max_gap: 30m, freshness: 2h}
  - {entity: "urn:ngsi-ld:Plant:1", attribute: Temp.C, source: sim}
grids:
  - {id: city_hourly, series: [urn:city:zone1.power], resolution: 1h, method: mean}
  - {id: city_locf, series: [urn:city:zone1.power, "urn:ngsi-ld:Plant:1.Temp.C"], resolution: 1m,
     method: locf, tolerance: 15m}
exports:
  - {id: city_hourly_parquet, grid: city_hourly, format: parquet}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path: Path, text: str) -> CatalogError:
    with pytest.raises(CatalogError) as info:
        load_catalog(write(tmp_path, text))
    return info.value


def test_good_catalog_loads_into_typed_models(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, GOOD))
    city = catalog.sources["city"]
    assert city.kind == "file" and city.values()["timestamp_column"] == ["DateTime"]
    assert city.values()["timezone"] == "Africa/Casablanca" and city.tenant == "default"
    sim = catalog.sources["sim"]
    assert sim.kind == "demo" and sim.duration("cadence") == timedelta(seconds=10)
    platform = catalog.sources["platform"]
    assert platform.kind == "http" and platform.values()["url"] == EnvRef("PLATFORM_URL")
    first, second = catalog.series
    assert (first.id, first.slug, first.selector) == ("urn:city:zone1.power", "urn_city_zone1_power",
                                                     "Zone 1 Power Consumption")
    assert first.checks.max_gap == timedelta(minutes=30)
    assert (second.slug, second.selector) == ("urn_ngsi_ld_plant_1_temp_c", "Temp.C")
    assert catalog.grids[1].tolerance == timedelta(minutes=15)
    assert catalog.base_dir == tmp_path.resolve()


def test_env_references_are_never_resolved_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATFORM_URL", "https://user:secret@db/x")
    catalog = load_catalog(write(tmp_path, GOOD))
    assert "secret" not in repr(catalog)


@pytest.mark.parametrize(
    ("text", "line", "key_path", "reason"),
    [
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: demo}\nseries:\n"
         "  - {entity: e, attribute: x, source: a, cadence: 10q}\n", 5, "series[0].cadence", "not a duration"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a:\n    kind: http\n    url: 'https://${U}@h/x'\n",
         5, "sources.a.url", "whole value"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: filez}\n", 3, "sources.a.kind", "must be one of"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {seed: 1}\n", 3, "sources.a.kind", "'kind' is required"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a:\n    kind: file\n    path: x.csv\n",
         4, "sources.a.timestamp_column", "Field required"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a:\n    kind: file\n    path: x.csv\n"
         "    timestamp_column: t\n    timezone: Mars/Base\n", 7, "sources.a.timezone", "unknown time zone"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a:\n    kind: http\n    url: 'http://h/{entiy}'\n",
         5, "sources.a.url", "unknown placeholder {entiy}"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a:\n    kind: http\n    url: 'http://{entity}.h/x'\n",
         5, "sources.a.url", "never in its host"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a:\n    kind: http\n    url: 'http://h/x'\n"
         "    next: links.next\n    page_param: page\n", 6, "sources.a.next", "cannot be given with 'page_param'"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a:\n    kind: http\n    url: 'http://h/x'\n"
         "    timeout: soon\n", 6, "sources.a.timeout", "not a duration"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: demo, cadence: 0s}\n", 3, "sources.a.cadence",
         "must be positive"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: 'json:loads'}\n", 3, "sources.a.kind",
         "is not a subclass of resources.sources.base.Source"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: 'no_such_pkg.mod:Thing'}\n", 3, "sources.a.kind",
         "cannot import 'no_such_pkg.mod:Thing'"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  Bad-Name: {kind: demo}\n", 3, "sources.Bad-Name",
         "pattern"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: demo}\nseries:\n"
         "  - {entity: e, attribute: x, source: b}\n", 5, "series[0].source", "unknown source 'b'"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: demo}\nseries:\n"
         "  - {entity: E, attribute: x, source: a}\n  - {entity: e, attribute: X, source: a}\n", 6, "series[1]",
         "collides"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: demo}\nseries:\n"
         "  - {entity: e, attribute: x, source: a}\ngrids:\n  - {id: g, series: [e.y], resolution: 1h}\n",
         7, "grids[0].series[0]", "unknown series 'e.y'"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: demo}\nseries:\n"
         "  - {entity: e, attribute: x, source: a}\ngrids:\n"
         "  - {id: g, series: [e.x], resolution: 1h, method: mean, tolerance: 5m}\n",
         7, "grids[0]", "'tolerance' applies to method 'locf' only"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: demo, tenant: t1}\n  b: {kind: demo, tenant: t2}\n"
         "series:\n  - {entity: e, attribute: x, source: a}\n  - {entity: f, attribute: x, source: b}\n"
         "grids:\n  - {id: g, series: [e.x, f.x], resolution: 1h}\n", 9, "grids[0].series", "several tenants"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: demo}\nexports:\n  - {id: x, grid: nope}\n",
         5, "exports[0].grid", "unknown grid 'nope'"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: demo, extra: 1}\n", 3, "sources.a.extra",
         "Extra inputs"),
        ("partitions: {start: '2017-01-01'\nsources: [\n", 2, "<root>", "not valid YAML"),
        ("partitions: {start: '2017-01-05', end: '2017-01-01'}\nsources:\n  a: {kind: demo}\n", 1, "partitions",
         "'end' (2017-01-01) is before 'start' (2017-01-05)"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: demo}\nseries:\n"
         "  - {entity: e, attribute: v, source: a,\n     checks: {anomaly: {window: 40d}}}\n", 6,
         "series[0].checks.anomaly.window", "at most 31d"),
        ("partitions: {start: '2017-01-01'}\nsources:\n  a: {kind: demo}\nseries:\n"
         "  - {entity: e, attribute: v, source: a, checks: {anomaly: {threshold: 0}}}\n", 5,
         "series[0].checks.anomaly.threshold", "greater than 0"),
    ],
)
def test_errors_name_file_line_key_path_and_reason(
    tmp_path: Path, text: str, line: int, key_path: str, reason: str
) -> None:
    error = error_of(tmp_path, text)
    assert str(error).startswith(f"{tmp_path / 'catalog.yaml'}:{line}: {key_path}: ")
    assert reason in error.reason
    assert error.line == line


def test_errors_never_carry_values(tmp_path: Path) -> None:
    error = error_of(tmp_path, "partitions: {start: '2017-01-01'}\nsources:\n  a:\n    kind: http\n"
                                "    url: 'https://user:hunter2@${HOST}/db'\n")
    assert "hunter2" not in str(error)


def test_missing_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read the catalog"):
        load_catalog(tmp_path / "absent.yaml")


@pytest.mark.parametrize(("series_id", "slug"), [
    ("urn:city:zone1.power", "urn_city_zone1_power"),
    ("  Weird -- ID!!.x  ", "weird_id_x"),
    ("urn:ngsi-ld:Device:ü.temp", "urn_ngsi_ld_device_temp"),
])
def test_slugify(series_id: str, slug: str) -> None:
    assert slugify(series_id) == slug


def test_bundled_demo_catalog_is_valid() -> None:
    catalog = load_catalog(DEMO_CATALOG)
    assert {s.kind for s in catalog.sources.values()} == {"file", "demo"}
    assert len(catalog.series) >= 5 and catalog.grids and catalog.exports
