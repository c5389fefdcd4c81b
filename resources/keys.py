"""Asset keys, as paths, of everything the catalog declares: one rule for the assets and the API."""

from __future__ import annotations

from resources.catalog import Catalog, ExportConfig, GridConfig, SeriesConfig

ONDEMAND_ALIGN = ("ondemand", "align")
ONDEMAND_EXPORT = ("ondemand", "export")


def raw_path(series: SeriesConfig) -> tuple[str, ...]:
    return ("raw", series.source, series.slug)


def grid_path(grid: GridConfig) -> tuple[str, ...]:
    return ("grid", grid.id)


def export_path(export: ExportConfig) -> tuple[str, ...]:
    return ("export", export.id)


def tenant_paths(catalog: Catalog, tenant: str) -> dict[str, tuple[str, ...]]:
    """`raw/<source>/<slug>`-style names of the materializable assets a tenant owns, to their key paths."""
    paths = [raw_path(s) for s in catalog.series if catalog.tenant_of(s) == tenant]
    by_id = catalog.series_by_id()
    grids = {g.id: g for g in catalog.grids if catalog.tenant_of(by_id[g.series[0]]) == tenant}
    paths += [grid_path(g) for g in grids.values()]
    paths += [export_path(e) for e in catalog.exports if e.grid in grids]
    return {"/".join(p): p for p in paths}
