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
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from resources.durations import format_duration, parse_duration
from resources.sources.base import EntryError, Source
from resources.sources.kinds import KindError, kind_class

NAME_RE = r"^[a-z0-9_]+$"
TENANT_RE = r"^[A-Za-z0-9_-]{1,64}$"
_ENV_WHOLE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


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


def _on_off(value: Any) -> Any:
    """`on`/`off` (YAML reads them as booleans too)."""
    if isinstance(value, str) and value.strip().lower() in ("on", "off"):
        return value.strip().lower() == "on"
    return value


OnOff = Annotated[bool, BeforeValidator(_on_off)]


class SourceEntry(_Model):
    """A catalog source: `kind`, `tenant`, `schedule` (its refresh schedule on by default or not),
    `retention` (how long its raw partitions are kept) and the kind's own keys (its `Source` class's fields)."""

    kind: str
    tenant: str = Field("default", pattern=TENANT_RE)
    schedule: OnOff = True
    retention: Duration | None = None

    COMMON: ClassVar[frozenset[str]] = frozenset({"kind", "tenant", "schedule", "retention"})

    def values(self) -> dict[str, Any]:
        """The kind's own keys as given (defaults filled in); `${VAR}` values stay `EnvRef`s."""
        return {k: getattr(self, k) for k in type(self).model_fields if k not in self.COMMON}

    def duration(self, key: str) -> timedelta:
        return parse_duration(str(getattr(self, key)))


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _catalog_type(annotation: Any) -> Any:
    """A resource field's type as the catalog writes it: text may be `${VAR}`, a list of text may be one."""
    if annotation is str:
        return Text
    if annotation == str | None:
        return Text | None
    if annotation == list[str]:
        return Annotated[list[str], BeforeValidator(_one_or_many)]
    if annotation == dict[str, str]:
        return dict[str, Text]
    return annotation


_ENTRY_MODELS: dict[type[Source], type[SourceEntry]] = {}


def entry_model(kind: type[Source]) -> type[SourceEntry]:
    """The catalog entry of a kind, built from its class's fields (cached)."""
    if kind not in _ENTRY_MODELS:
        fields: dict[str, Any] = {}
        for key, info in kind.catalog_keys().items():
            default = ... if info.is_required() else info.get_default(call_default_factory=True)
            fields[key] = (_catalog_type(info.annotation), default)
        _ENTRY_MODELS[kind] = create_model(f"{kind.__name__}Entry", __base__=SourceEntry, **fields)
    return _ENTRY_MODELS[kind]


MAX_ANOMALY_WINDOW = timedelta(days=31)


class AnomalyCheck(_Model):
    """Robust anomaly check: a reading further than `threshold` scaled MADs from the rolling median of the
    `window` before it is flagged (DESIGN section 4)."""

    window: Duration = timedelta(days=3)
    threshold: float = Field(5.0, gt=0)
    min_points: int = Field(12, ge=3)

    @field_validator("window")
    @classmethod
    def _bounded(cls, window: timedelta) -> timedelta:
        if not timedelta(0) < window <= MAX_ANOMALY_WINDOW:
            raise ValueError(f"must be more than 0 and at most {MAX_ANOMALY_WINDOW.days}d")
        return window


class SeriesChecks(_Model):
    min: float | None = None
    max: float | None = None
    max_gap: Duration | None = None
    freshness: Duration | None = None
    anomaly: AnomalyCheck | None = None


class SeriesConfig(_Model):
    entity: str = Field(min_length=1)
    attribute: str = Field(min_length=1)
    source: Name
    column: str | None = None
    unit: str | None = None
    cadence: Duration | None = None
    checks: SeriesChecks = SeriesChecks()
    retention: Duration | None = None  # overrides the source's

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
    tolerance: Duration | None = None
    fill: Literal["locf", "linear"] = "locf"
    max_gap: Duration | None = None

    @model_validator(mode="after")
    def _options_fit_the_method(self) -> GridConfig:
        if self.tolerance is not None and self.method != "locf":
            raise ValueError(f"'tolerance' applies to method 'locf' only, not {self.method!r}")
        if self.fill == "linear" and self.method != "locf":
            raise ValueError(f"'fill: linear' fills a locf grid, not method {self.method!r}")
        if self.fill == "linear" and self.tolerance is not None:
            raise ValueError("'tolerance' applies to 'fill: locf'; linear filling is bounded by 'max_gap'")
        if self.max_gap is not None and self.fill != "linear":
            raise ValueError("'max_gap' bounds 'fill: linear' only")
        if self.fill == "linear" and self.max_gap is None:
            raise ValueError("'fill: linear' needs 'max_gap' (the longest gap filled, a duration)")
        for key in ("tolerance", "max_gap"):
            value = getattr(self, key)
            if value is not None and value > timedelta(days=MAX_REACH_DAYS):
                raise ValueError(f"'{key}' reaches across at most {MAX_REACH_DAYS} days")
        return self


# A grid partition reads the raw days its tolerance (or max_gap) reaches and declares them as dependencies, so
# its result never depends on the order partitions ran in: the reach is bounded (no `tolerance: none`).
MAX_REACH_DAYS = 7


class ExportConfig(_Model):
    id: Name
    grid: Name
    format: Literal["parquet", "csv"] = "parquet"
    retention: Duration | None = None  # exports are kept unless told otherwise


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
    sources: dict[Annotated[str, Field(pattern=NAME_RE)], SourceEntry]
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

    def retention_of(self, series: SeriesConfig) -> timedelta | None:
        return series.retention or self.sources[series.source].retention


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
    if "sources" in raw:
        raw = {**raw, "sources": _sources(raw["sources"], file, lines)}
    try:
        catalog = Catalog.model_validate({**raw, "path": path.resolve()})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = _strip_tags(err["loc"])
        reason = err["msg"].removeprefix("Value error, ")
        raise CatalogError(file, _key_path(loc), reason, lines.line(loc)) from None
    _check_references(catalog, file, lines)
    return catalog


def _sources(raw: Any, file: str, lines: _LineIndex) -> Any:
    """Each source validated against its kind's class: the keys it declares, then `check_entry`."""
    if not isinstance(raw, dict):
        return raw  # the Catalog model names the problem
    out: dict[Any, Any] = {}
    for name, value in raw.items():
        loc: tuple[Any, ...] = ("sources", name)
        kind_name = value.get("kind") if isinstance(value, dict) else None
        if not isinstance(kind_name, str):
            raise CatalogError(file, _key_path((*loc, "kind")), "'kind' is required: a kind name or "
                               "'pkg.module:Class'", lines.line(loc))
        try:
            kind = kind_class(kind_name)
        except KindError as exc:
            raise CatalogError(file, _key_path((*loc, "kind")), str(exc), lines.line((*loc, "kind"))) from None
        try:
            entry = entry_model(kind).model_validate(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = (*loc, *_strip_tags(err["loc"]))
            reason = err["msg"].removeprefix("Value error, ")
            raise CatalogError(file, _key_path(where), reason, lines.line(where)) from None
        try:
            kind.check_entry(entry.values())
        except EntryError as exc:
            where = (*loc, exc.key) if exc.key else loc
            raise CatalogError(file, _key_path(where), exc.reason, lines.line(where)) from None
        out[name] = entry
    return out


_TAGS = {"str", "EnvRef", "list[str]", "timedelta", "float", "int"}


def _strip_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the union tags pydantic puts in a location (`...path.str` -> `...path`)."""
    return tuple(p for p in loc if not (isinstance(p, str) and (p in _TAGS or "[" in p or "(" in p)))


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
