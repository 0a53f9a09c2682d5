"""The dashboards' spec (spec.yml beside this file) as checked dataclasses.

One source for the visuals' SQL, the local preview, QuickSight's resources and the dbt exposures.
`load_spec()` reads it once and refuses anything inconsistent (a visual naming an unknown data set,
measure, filter or column; a measure over a column the reporting model does not have) with
SpecError naming the place and the reason. Column names and types come from the reporting models'
yml (contracts enforced), so the spec never repeats them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from loaders.config import project_root

SPEC_PATH = Path(__file__).with_name("spec.yml")
REPORTING_YML = Path("models") / "reporting" / "_reporting__models.yml"
ROLES = ("analyst", "finance", "account_manager", "executive")  # DOMAIN.md "Who sees what": dashboard viewers
VISUAL_KINDS = ("line", "bar", "table")
FILTER_KINDS = ("last_days", "last_months", "last_complete_month", "values")
AGGREGATIONS = ("sum", "max", "ratio")


class SpecError(Exception):
    """spec.yml (or the reporting yml it relies on) is inconsistent; the message says where and why."""


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str  # as in the model's contract, e.g. varchar(80), numeric(18, 2), integer, date


@dataclass(frozen=True)
class Measure:
    name: str
    label: str
    aggregation: str  # sum | max | ratio
    columns: tuple[str, ...]  # one column, or numerator and denominator for a ratio
    scale: int = 1  # ratio x scale (100 for a percentage)


@dataclass(frozen=True)
class Dataset:
    table: str
    columns: tuple[Column, ...]
    measures: dict[str, Measure]
    client_scoped: bool = False
    rules: bool = False

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class Filter:
    id: str
    kind: str  # last_days | last_months | last_complete_month | values
    column: str
    label: str
    days: int = 0
    months: int = 0
    as_of: str = ""  # last_complete_month: the column holding the as-of date


@dataclass(frozen=True)
class Visual:
    id: str
    title: str
    kind: str  # line | bar | table
    dataset: str
    filters: tuple[str, ...]
    x: str = ""
    color: str = ""
    measures: tuple[str, ...] = ()
    chart_measures: tuple[str, ...] = ()  # the measures drawn (default: all); the others are in the query
    columns: tuple[str, ...] = ()  # table without measures: the columns listed, row by row
    group_by: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    sort_measure: str = ""
    sort_descending: bool = False
    limit: int = 0
    total_from: str = ""  # a top-N list: the visual whose first measure counts all its rows (shown as "N of total")
    stacked: bool = False

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The columns the query groups by: x, colour, then group_by, each once."""
        out: list[str] = []
        for name in (self.x, self.color, *self.group_by):
            if name and name not in out:
                out.append(name)
        return tuple(out)

    @property
    def drawn_measures(self) -> tuple[str, ...]:
        return self.chart_measures or self.measures


@dataclass(frozen=True)
class Dashboard:
    id: str
    name: str
    exposure: str
    exposure_file: str
    owner_name: str
    owner_email: str
    description: str
    audience: tuple[str, ...]
    filters: dict[str, Filter]
    visuals: tuple[Visual, ...]

    @property
    def prefix(self) -> str:
        """The prefix of its analyses/ files and bench queries: client-profitability -> client_profitability."""
        return self.id.replace("-", "_")

    def datasets(self) -> list[str]:
        out: list[str] = []
        for v in self.visuals:
            if v.dataset not in out:
                out.append(v.dataset)
        return out


@dataclass(frozen=True)
class Spec:
    quicksight: dict
    datasets: dict[str, Dataset]
    dashboards: tuple[Dashboard, ...]
    path: Path = field(default=SPEC_PATH)

    def dashboard(self, dashboard_id: str) -> Dashboard:
        for d in self.dashboards:
            if d.id == dashboard_id:
                return d
        raise SpecError(f"{self.path}: no dashboard {dashboard_id!r}")

    def rules_dataset(self) -> Dataset:
        found = [d for d in self.datasets.values() if d.rules]
        if len(found) != 1:
            raise SpecError(f"{self.path}: exactly one data set must be the rules data set (rules: true)")
        return found[0]


def reporting_columns(root: Path) -> dict[str, tuple[Column, ...]]:
    """Model -> its columns with their contract data types, from models/reporting/_reporting__models.yml."""
    path = root / REPORTING_YML
    try:
        models = yaml.safe_load(path.read_text())["models"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as err:
        raise SpecError(f"{path}: cannot read the reporting models: {err}") from None
    out: dict[str, tuple[Column, ...]] = {}
    for model in models:
        columns = []
        for col in model.get("columns") or []:
            if not col.get("data_type"):
                raise SpecError(f"{path}: {model['name']}.{col['name']} has no data_type (contracts are enforced)")
            columns.append(Column(col["name"], str(col["data_type"]).lower()))
        out[model["name"]] = tuple(columns)
    return out


def _need(mapping: dict, key: str, where: str):
    if key not in mapping or mapping[key] in (None, ""):
        raise SpecError(f"{SPEC_PATH}: {where} needs {key!r}")
    return mapping[key]


def _measure(name: str, raw: dict, table: str, columns: tuple[str, ...]) -> Measure:
    where = f"datasets.{table}.measures.{name}"
    found = [a for a in AGGREGATIONS if a in raw]
    if len(found) != 1:
        raise SpecError(f"{SPEC_PATH}: {where} needs exactly one of {', '.join(AGGREGATIONS)}")
    agg = found[0]
    cols = tuple(raw[agg]) if agg == "ratio" else (raw[agg],)
    if agg == "ratio" and len(cols) != 2:
        raise SpecError(f"{SPEC_PATH}: {where}: ratio is [numerator, denominator]")
    for c in cols:
        if c not in columns:
            raise SpecError(f"{SPEC_PATH}: {where} reads {c!r}, which {table} does not have")
    return Measure(name, str(raw.get("label") or name), agg, cols, int(raw.get("scale", 1)))


def _filter(raw: dict, where: str) -> Filter:
    kind = _need(raw, "kind", where)
    if kind not in FILTER_KINDS:
        raise SpecError(f"{SPEC_PATH}: {where}: kind {kind!r} is not one of {', '.join(FILTER_KINDS)}")
    f = Filter(id=_need(raw, "id", where), kind=kind, column=_need(raw, "column", where),
               label=str(raw.get("label") or raw["id"]), days=int(raw.get("days", 0)),
               months=int(raw.get("months", 0)), as_of=str(raw.get("as_of", "")))
    if kind == "last_days" and f.days < 1 or kind == "last_months" and f.months < 1:
        raise SpecError(f"{SPEC_PATH}: {where}: {kind} needs a positive days/months")
    if kind == "last_complete_month" and not f.as_of:
        raise SpecError(f"{SPEC_PATH}: {where}: last_complete_month needs as_of (the as-of date column)")
    return f


def _visual(raw: dict, where: str, datasets: dict[str, Dataset], filters: dict[str, Filter]) -> Visual:
    sort = raw.get("sort") or {}
    v = Visual(
        id=_need(raw, "id", where), title=_need(raw, "title", where), kind=_need(raw, "kind", where),
        dataset=_need(raw, "dataset", where), filters=tuple(raw.get("filters") or ()),
        x=raw.get("x", ""), color=raw.get("color", ""), measures=tuple(raw.get("measures") or ()),
        chart_measures=tuple(raw.get("chart_measures") or ()), columns=tuple(raw.get("columns") or ()),
        group_by=tuple(raw.get("group_by") or ()), order_by=tuple(raw.get("order_by") or ()),
        sort_measure=sort.get("measure", ""), sort_descending=bool(sort.get("descending", False)),
        limit=int(raw.get("limit", 0)), total_from=raw.get("total_from", ""),
        stacked=bool(raw.get("stacked", False)))
    where = f"{where} ({v.id})"
    if v.kind not in VISUAL_KINDS:
        raise SpecError(f"{SPEC_PATH}: {where}: kind {v.kind!r} is not one of {', '.join(VISUAL_KINDS)}")
    if v.dataset not in datasets or datasets[v.dataset].rules:
        raise SpecError(f"{SPEC_PATH}: {where}: data set {v.dataset!r} is not a dashboard data set of the spec")
    ds = datasets[v.dataset]
    for name in (*v.dimensions, *v.columns, *v.order_by):
        if name not in ds.column_names and name not in v.measures:
            raise SpecError(f"{SPEC_PATH}: {where}: {v.dataset} has no column {name!r}")
    for name in (*v.measures, *v.chart_measures, *([v.sort_measure] if v.sort_measure else [])):
        if name not in ds.measures:
            raise SpecError(f"{SPEC_PATH}: {where}: {v.dataset} has no measure {name!r}")
    if set(v.chart_measures) - set(v.measures):
        raise SpecError(f"{SPEC_PATH}: {where}: chart_measures must be among measures")
    for fid in v.filters:
        if fid not in filters:
            raise SpecError(f"{SPEC_PATH}: {where}: no filter {fid!r} on this dashboard")
        f = filters[fid]
        for name in (f.column, f.as_of):
            if name and name not in ds.column_names:
                raise SpecError(f"{SPEC_PATH}: {where}: filter {fid} needs column {name!r}, which {v.dataset} lacks")
    if v.kind in ("line", "bar") and not (v.x and v.measures):
        raise SpecError(f"{SPEC_PATH}: {where}: a {v.kind} chart needs x and measures")
    if v.kind == "table" and not (v.columns or (v.group_by and v.measures)):
        raise SpecError(f"{SPEC_PATH}: {where}: a table needs columns, or group_by and measures")
    if v.columns and v.measures:
        raise SpecError(f"{SPEC_PATH}: {where}: a table lists columns row by row or aggregates measures, not both")
    return v


def parse_spec(raw: dict, root: Path) -> Spec:
    columns = reporting_columns(root)
    datasets: dict[str, Dataset] = {}
    for table, body in (raw.get("datasets") or {}).items():
        body = body or {}
        if table not in columns:
            raise SpecError(f"{SPEC_PATH}: data set {table} is not a model in {REPORTING_YML}")
        names = tuple(c.name for c in columns[table])
        if body.get("client_scoped") and "client_key" not in names:
            raise SpecError(f"{SPEC_PATH}: {table} is client_scoped but has no client_key column")
        measures = {name: _measure(name, m, table, names) for name, m in (body.get("measures") or {}).items()}
        datasets[table] = Dataset(table, columns[table], measures, bool(body.get("client_scoped")),
                                  bool(body.get("rules")))
    dashboards = []
    for i, d in enumerate(raw.get("dashboards") or []):
        where = f"dashboards[{i}]"
        audience = tuple(_need(d, "audience", where))
        unknown = set(audience) - set(ROLES)
        if unknown:
            raise SpecError(f"{SPEC_PATH}: {where}: unknown roles {sorted(unknown)} (roles: {', '.join(ROLES)})")
        filters = {f.id: f for f in (_filter(f, f"{where}.filters") for f in d.get("filters") or [])}
        visuals = tuple(_visual(v, f"{where}.visuals[{j}]", datasets, filters)
                        for j, v in enumerate(_need(d, "visuals", where)))
        ids = [v.id for v in visuals]
        if len(set(ids)) != len(ids):
            raise SpecError(f"{SPEC_PATH}: {where}: visual ids repeat")
        for v in visuals:
            if v.total_from and not any(o.id == v.total_from and o.measures for o in visuals):
                raise SpecError(f"{SPEC_PATH}: {where}: {v.id}.total_from names no visual with a measure")
        owner = _need(d, "owner", where)
        dashboards.append(Dashboard(
            id=_need(d, "id", where), name=_need(d, "name", where), exposure=_need(d, "exposure", where),
            exposure_file=_need(d, "exposure_file", where), owner_name=_need(owner, "name", f"{where}.owner"),
            owner_email=_need(owner, "email", f"{where}.owner"),
            description=" ".join(str(_need(d, "description", where)).split()), audience=audience,
            filters=filters, visuals=visuals))
    spec = Spec(quicksight=dict(_need(raw, "quicksight", "the spec")), datasets=datasets,
                dashboards=tuple(dashboards))
    spec.rules_dataset()
    used = {v.dataset for d in spec.dashboards for v in d.visuals}
    unused = sorted(t for t, ds in datasets.items() if not ds.rules and t not in used)
    if unused:
        raise SpecError(f"{SPEC_PATH}: data sets no visual reads: {', '.join(unused)}")
    return spec


@lru_cache(maxsize=4)
def _load(path: Path, root: Path) -> Spec:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SpecError(f"{path}: cannot read the dashboards' spec: {err}") from None
    spec = parse_spec(raw or {}, root)
    return Spec(spec.quicksight, spec.datasets, spec.dashboards, path)


def load_spec(path: Path | None = None, root: Path | None = None) -> Spec:
    return _load(Path(path or SPEC_PATH).resolve(), Path(root or project_root()).resolve())


def quicksight_setting(spec: Spec, key: str, env: dict[str, str] | None = None):
    """A quicksight: value, overridden by UNIFY_QUICKSIGHT_<KEY> (dots as underscores) when set."""
    env = os.environ if env is None else env
    override = env.get("UNIFY_QUICKSIGHT_" + key.upper().replace(".", "_"))
    if override:
        return override
    value: object = spec.quicksight
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise SpecError(f"{spec.path}: quicksight.{key} is missing")
        value = value[part]
    return value
