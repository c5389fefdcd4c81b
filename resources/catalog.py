"""The catalog: one YAML file declaring sources, series, grids and exports (DESIGN section 3).

`load_catalog(path)` validates everything at once and raises `CatalogError` naming the file, the line, the
key path and the reason. Secrets are written as a whole `${ENV_VAR}` value and kept as `EnvRef`: the value
is never read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from resources.durations import format_duration, parse_duration

NAME_RE = r"^[a-z0-9_]+$"
TENANT_RE = r"^[A-Za-z0-9_-]{1,64}$"
_ENV_WHOLE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_CUSTOM_KIND = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
BUILTIN_KINDS = ("file", "demo", "postgres", "http", "ngsi_ld")


class CatalogError(ValueError):
    """An invalid catalog: names the file, the line, the key path and the reason (never a value)."""

    def __init__(self, file: str, key_path: str, reason: str, line: int | None = None) -> None:
        self.file, self.key_path, self.reason, self.line = file, key_path, reason, line
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key_path or '<root>'}: {reason}")


@dataclass(frozen=True)
class EnvRef:
    """A `${NAME}` value: resolved from the environment where it is used, shown by name everywhere else."""

    name: str

    def __str__(self) -> str:
        return f"${{{self.name}}}"


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_duration(str(value))


def _signed_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_duration(str(value), allow_negative=True)


Duration = Annotated[timedelta, BeforeValidator(_duration), PlainSerializer(format_duration)]
SignedDuration = Annotated[timedelta, BeforeValidator(_signed_duration), PlainSerializer(format_duration)]
Text = str | EnvRef
Name = Annotated[str, Field(pattern=NAME_RE)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class _SourceBase(_Model):
    tenant: str = Field("default", pattern=TENANT_RE)


class FileSourceConfig(_SourceBase):
    kind: Literal["file"]
    path: Text
    format: Literal["csv", "parquet"] | None = None
    timestamp_column: str | list[str]
    timestamp_format: str | None = None
    timestamp_unit: Literal["s", "ms"] | None = None
    timestamp_offset: SignedDuration = timedelta(0)
    timezone: str = "UTC"
    delimiter: str = Field(",", min_length=1, max_length=1)
    decimal: str = Field(".", min_length=1, max_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class DemoSourceConfig(_SourceBase):
    kind: Literal["demo"]
    seed: int = 0
    cadence: Duration = timedelta(minutes=10)


class PostgresSourceConfig(_SourceBase):
    kind: Literal["postgres"]
    dsn: Text
    table: str | None = None
    query: str | None = None
    layout: Literal["long", "wide"] = "long"
    ts_column: str = "ts"
    entity_column: str = "entity_id"
    attribute_column: str = "attribute"
    value_column: str = "value"
    order_by: str | None = None

    @model_validator(mode="after")
    def _table_or_query(self) -> PostgresSourceConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self


class HttpSourceConfig(_SourceBase):
    kind: Literal["http"]
    url: Text
    format: Literal["json", "csv"] = "json"
    records: str = ""
    timestamp_field: str = "ts"
    value_field: str = "value"
    timestamp_unit: Literal["s", "ms"] | None = None
    next: str | None = None
    page_param: str | None = None
    page_size: int | None = Field(None, gt=0)
    headers: dict[str, Text] = Field(default_factory=dict)
    forward_headers: list[str] = Field(default_factory=list)
    timeout: Duration = timedelta(seconds=30)
    retries: int = Field(5, ge=0, le=20)
    rate_limit: float | None = Field(None, gt=0)


class NgsiLdSourceConfig(_SourceBase):
    kind: Literal["ngsi_ld"]
    url: Text
    context: str | None = None
    page_size: int = Field(1000, gt=0)


class CustomSourceConfig(_Model):
    """`kind: "pkg.module:Class"`: every other key is handed to the class."""

    model_config = ConfigDict(extra="allow", frozen=True, arbitrary_types_allowed=True)
    kind: str = Field(pattern=_CUSTOM_KIND.pattern)
    tenant: str = Field("default", pattern=TENANT_RE)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _source_tag(value: Any) -> str | None:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    if kind in BUILTIN_KINDS:
        return str(kind)
    return "custom" if isinstance(kind, str) and _CUSTOM_KIND.match(kind) else None


SourceConfig = Annotated[
    Annotated[FileSourceConfig, Tag("file")]
    | Annotated[DemoSourceConfig, Tag("demo")]
    | Annotated[PostgresSourceConfig, Tag("postgres")]
    | Annotated[HttpSourceConfig, Tag("http")]
    | Annotated[NgsiLdSourceConfig, Tag("ngsi_ld")]
    | Annotated[CustomSourceConfig, Tag("custom")],
    Discriminator(
        _source_tag,
        custom_error_type="source_kind",
        custom_error_message=f"'kind' must be one of {', '.join(BUILTIN_KINDS)} or 'pkg.module:Class'",
    ),
]


class SeriesChecks(_Model):
    min: float | None = None
    max: float | None = None
    max_gap: Duration | None = None
    freshness: Duration | None = None


class SeriesConfig(_Model):
    entity: str = Field(min_length=1)
    attribute: str = Field(min_length=1)
    source: Name
    column: str | None = None
    unit: str | None = None
    cadence: Duration | None = None
    checks: SeriesChecks = SeriesChecks()

    @property
    def id(self) -> str:
        return f"{self.entity}.{self.attribute}"

    @property
    def slug(self) -> str:
        return slugify(self.id)

    @property
    def selector(self) -> str:
        return self.column or self.attribute


class GridConfig(_Model):
    id: Name
    series: list[str] = Field(min_length=1)
    resolution: Duration
    method: Literal["locf", "mean", "min", "max", "sum", "first", "last", "count"] = "locf"
    tolerance: Duration | Literal["none"] | None = None

    @model_validator(mode="after")
    def _tolerance_for_locf(self) -> GridConfig:
        if self.tolerance is not None and self.method != "locf":
            raise ValueError(f"'tolerance' applies to method 'locf' only, not {self.method!r}")
        return self


class ExportConfig(_Model):
    id: Name
    grid: Name
    format: Literal["parquet", "csv"] = "parquet"


class PartitionsConfig(_Model):
    """Daily UTC partitions from `start` to `end` (inclusive); without `end` they run to today (open)."""

    start: date
    end: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PartitionsConfig:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"'end' ({self.end}) is before 'start' ({self.start})")
        return self

    def last(self, today: date) -> date:
        """The last partition day: today (the open partition), or `end` once it has passed."""
        return today if self.end is None else min(self.end, today)

    def holds(self, day: date, today: date) -> bool:
        return self.start <= day <= self.last(today)


class Catalog(_Model):
    partitions: PartitionsConfig
    sources: dict[Annotated[str, Field(pattern=NAME_RE)], SourceConfig]
    series: list[SeriesConfig] = Field(default_factory=list)
    grids: list[GridConfig] = Field(default_factory=list)
    exports: list[ExportConfig] = Field(default_factory=list)
    path: Path | None = Field(None, exclude=True)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def series_by_id(self) -> dict[str, SeriesConfig]:
        return {s.id: s for s in self.series}

    def grid(self, grid_id: str) -> GridConfig:
        return next(g for g in self.grids if g.id == grid_id)

    def tenant_of(self, series: SeriesConfig) -> str:
        return self.sources[series.source].tenant


def slugify(series_id: str) -> str:
    """`urn:city:Zone1.power` -> `urn_city_zone1_power` (lowercase; other runs become one `_`, trimmed)."""
    return re.sub(r"[^a-z0-9]+", "_", series_id.lower()).strip("_")


def load_catalog(path: str | Path) -> Catalog:
    """Read, expand and validate a catalog file; raise CatalogError on the first problem found."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(file, "", f"cannot read the catalog: {exc.strerror or exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise CatalogError(file, "", f"not valid YAML: {getattr(exc, 'problem', exc)}", line) from None
    lines = _LineIndex(node)
    if not isinstance(raw, dict):
        raise CatalogError(file, "", "the catalog must be a mapping with 'partitions' and 'sources'", 1)
    raw = _expand_env(raw, (), file, lines)
    try:
        catalog = Catalog.model_validate({**raw, "path": path.resolve()})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = _strip_tags(err["loc"])
        reason = err["msg"].removeprefix("Value error, ")
        raise CatalogError(file, _key_path(loc), reason, lines.line(loc)) from None
    _check_references(catalog, file, lines)
    return catalog


_TAGS = {"str", "EnvRef", "list[str]", "timedelta", "float", "int"}


def _strip_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the union tags pydantic puts in a location (`sources.city.file.path` -> `sources.city.path`)."""
    out = list(loc)
    if len(out) > 2 and out[0] == "sources" and (out[2] in BUILTIN_KINDS or out[2] == "custom"):
        del out[2]
    return tuple(p for p in out if not (isinstance(p, str) and (p in _TAGS or "[" in p)))


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _LineIndex:
    """Line numbers of YAML nodes by key path."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def line(self, loc: tuple[Any, ...]) -> int | None:
        node, best = self.root, None
        for part in loc:
            if node is None:
                break
            best = node.start_mark.line + 1
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if k.value == str(part)), None)
                if node is None:
                    break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            else:
                node = None
        if node is not None:
            best = node.start_mark.line + 1
        return best


def _expand_env(value: Any, loc: tuple[Any, ...], file: str, lines: _LineIndex) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, (*loc, k), file, lines) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, (*loc, i), file, lines) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        match = _ENV_WHOLE.match(value)
        if match is None:
            raise CatalogError(
                file, _key_path(loc), "${VAR} must be the whole value (no text around it)", lines.line(loc)
            )
        return EnvRef(match.group(1))
    return value


def _check_references(catalog: Catalog, file: str, lines: _LineIndex) -> None:
    def fail(loc: tuple[Any, ...], reason: str) -> None:
        raise CatalogError(file, _key_path(loc), reason, lines.line(loc))

    slugs: dict[str, str] = {}
    ids: set[str] = set()
    for i, series in enumerate(catalog.series):
        if series.source not in catalog.sources:
            fail(("series", i, "source"), f"unknown source {series.source!r}")
        if series.id in ids:
            fail(("series", i), f"series {series.id!r} is declared twice")
        if not series.slug:
            fail(("series", i), f"series {series.id!r} has an empty slug")
        if series.slug in slugs:
            fail(("series", i), f"slug {series.slug!r} of {series.id!r} collides with {slugs[series.slug]!r}")
        ids.add(series.id)
        slugs[series.slug] = series.id
        source = catalog.sources[series.source]
        if series.cadence is None and isinstance(source, DemoSourceConfig):
            continue
    by_id = catalog.series_by_id()
    grid_ids: set[str] = set()
    for i, grid in enumerate(catalog.grids):
        if grid.id in grid_ids:
            fail(("grids", i, "id"), f"grid {grid.id!r} is declared twice")
        grid_ids.add(grid.id)
        for j, sid in enumerate(grid.series):
            if sid not in by_id:
                fail(("grids", i, "series", j), f"unknown series {sid!r}")
        if len(set(grid.series)) != len(grid.series):
            fail(("grids", i, "series"), "a series is listed twice")
        tenants = {catalog.tenant_of(by_id[sid]) for sid in grid.series}
        if len(tenants) > 1:
            fail(("grids", i, "series"), f"series of several tenants ({', '.join(sorted(tenants))})")
    export_ids: set[str] = set()
    for i, export in enumerate(catalog.exports):
        if export.id in export_ids:
            fail(("exports", i, "id"), f"export {export.id!r} is declared twice")
        export_ids.add(export.id)
        if export.grid not in grid_ids:
            fail(("exports", i, "grid"), f"unknown grid {export.grid!r}")
