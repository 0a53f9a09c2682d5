"""The SQL of each visual, from the spec: what the visual shows and nothing more.

A chart's query groups its reporting table by the chart's dimensions and aggregates its measures (a
ratio is a ratio of sums, so any selection of clients adds up exactly); a list returns its top N rows
in the order the visual shows them (an index or sort key gives them without sorting the whole table).
Filters left at their defaults are relative to the newest data in the table (the last 28 days, the
last 12 months, the last complete month before the as-of date), as QuickSight's relative filters are
to "now"; the preview can pin them (`FilterValues`), bound as query parameters.

`visual_sql(visual, dataset_of, relation)` renders one query: `relation` names the table (dbt's
`{{ ref('...') }}` for analyses/, a schema-qualified name for the preview). `write_analyses()` keeps
analyses/ in step with the spec (`unify dashboards --write-sql`); `check_analyses()` says what differs.
The SQL is portable between PostgreSQL and Redshift (the Redshift gate and sqlfluff check analyses/).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

from unify.dashboards.spec import Dashboard, Dataset, Filter, Measure, Spec, Visual

GENERATED = "generated from unify/dashboards/spec.yml by `unify dashboards --write-sql`: edit the spec, not this file"
INDENT = "    "


@dataclass
class FilterValues:
    """Pinned filter values; a filter without one keeps its default (relative to the newest data)."""

    date_from: date | None = None  # last_days filters: from .. to, inclusive
    date_to: date | None = None
    month_from: date | None = None  # last_months filters: first days of months, inclusive
    month_to: date | None = None
    report_month: date | None = None  # last_complete_month filters
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)  # filter id -> allowed values


def cte_name(table: str) -> str:
    return table.removeprefix("rpt_")


def measure_sql(m: Measure) -> str:
    """The measure's select expression (for a long ratio: three lines, indented for the select list)."""
    if m.aggregation == "ratio":
        num, den = m.columns
        ratio = f"{m.scale}.0 * sum({num}) / nullif(sum({den}), 0), 2"
        if len(ratio) + len(m.name) > 90:
            return f"round(\n{INDENT * 3}{ratio}\n{INDENT * 2}) as {m.name}"
        return f"round({ratio}) as {m.name}"
    return f"{m.aggregation}({m.columns[0]}) as {m.name}"


def newest_cte(f: Filter) -> str:
    return f"newest_{f.column}"


def _between(f: Filter, first: date | None, last: date | None, params: dict) -> str:
    params[f"{f.id}_from"] = first or date.min
    params[f"{f.id}_to"] = last or date.max
    return f"{f.column} between %({f.id}_from)s and %({f.id}_to)s"


def _relative_default(f: Filter, pinned: FilterValues) -> bool:
    """A relative date filter left at its default: it needs the table's newest day (month)."""
    if f.kind == "last_days":
        return not (pinned.date_from or pinned.date_to)
    if f.kind == "last_months":
        return not (pinned.month_from or pinned.month_to)
    return False


def _condition(f: Filter, pinned: FilterValues, params: dict) -> str | None:
    if f.kind == "values":
        chosen = pinned.values.get(f.id)
        if not chosen:
            return None
        params[f.id] = tuple(chosen)
        return f"{f.column} in %({f.id})s"
    if f.kind == "last_days":
        if not _relative_default(f, pinned):
            return _between(f, pinned.date_from, pinned.date_to, params)
        return f"{f.column} > (select newest.newest_date from {newest_cte(f)} as newest) - {f.days}"
    if f.kind == "last_months":
        if not _relative_default(f, pinned):
            return _between(f, pinned.month_from, pinned.month_to, params)
        return (f"{f.column} > cast(\n{INDENT * 3}(select newest.newest_date from {newest_cte(f)} as newest) "
                f"- interval '{f.months} months'\n{INDENT * 3}as date\n{INDENT * 2})")
    if f.kind == "last_complete_month":
        if pinned.report_month:
            params[f.id] = pinned.report_month
            return f"{f.column} = %({f.id})s"
        return f"{f.column} = cast(date_trunc('month', {f.as_of}) - interval '1 month' as date)"
    raise ValueError(f"filter kind {f.kind}")


def visual_sql(dashboard: Dashboard, visual: Visual, dataset: Dataset, relation: Callable[[str], str],
               pinned: FilterValues | None = None) -> tuple[str, dict]:
    """The visual's query and its parameters (none when every filter keeps its default)."""
    pinned = pinned or FilterValues()
    cte = cte_name(dataset.table)
    params: dict = {}
    filters = [dashboard.filters[fid] for fid in visual.filters]
    conditions = [c for c in (_condition(f, pinned, params) for f in filters) if c]
    relative = [f for f in filters if _relative_default(f, pinned)]
    if visual.columns:
        selected = list(visual.columns)
        grouped: list[str] = []
    else:
        grouped = list(visual.dimensions)
        selected = grouped + [measure_sql(dataset.measures[m]) for m in visual.measures]
    lines = ["with", "", f"{cte} as (", "", f"{INDENT}select * from {relation(dataset.table)}", "", "),", ""]
    # The newest day (month) of a relative filter reads the table itself, not the import CTE: a CTE read
    # twice is materialised by PostgreSQL, which scans the whole table instead of using its index.
    for f in relative:
        lines += [f"{newest_cte(f)} as (", "", f"{INDENT}select max({f.column}) as newest_date",
                  f"{INDENT}from {relation(dataset.table)}", "", "),", ""]
    lines += ["final as (", "", f"{INDENT}select"]
    lines += [f"{INDENT * 2}{s}," for s in selected[:-1]] + [f"{INDENT * 2}{selected[-1]}"]
    lines.append(f"{INDENT}from {cte}")
    if conditions:
        lines.append(f"{INDENT}where")
        lines += [f"{INDENT * 2}{'and ' if i else ''}{c}" for i, c in enumerate(conditions)]
    if grouped:
        lines.append(f"{INDENT}group by {', '.join(grouped)}")
    lines += ["", ")", "", "select * from final"]
    order = _order(visual)
    if order:
        lines.append(f"order by {order}")
    if visual.limit:
        lines.append(f"limit {visual.limit}")
    return "\n".join(lines) + "\n", params


def _order(visual: Visual) -> str:
    if visual.sort_measure:
        return f"{visual.sort_measure}{' desc' if visual.sort_descending else ' asc'} nulls last, {visual.x} asc"
    return ", ".join(visual.order_by or visual.dimensions)


def analysis_name(dashboard: Dashboard, visual: Visual) -> str:
    return f"{dashboard.prefix}__{visual.id}"


def analysis_text(spec: Spec, dashboard: Dashboard, visual: Visual) -> str:
    sql, params = visual_sql(dashboard, visual, spec.datasets[visual.dataset], lambda t: f"{{{{ ref('{t}') }}}}")
    assert not params, "analyses keep every filter at its default"
    text = f"{dashboard.name} dashboard, visual {visual.id!r}: {visual.title}. {GENERATED}."
    header = textwrap.fill(text, width=110, initial_indent="{#- ", subsequent_indent="    ")
    return f"{header} -#}}\n{sql}"


def expected_analyses(spec: Spec) -> dict[str, str]:
    """File name in analyses/ -> its text, for every visual of every dashboard."""
    return {f"{analysis_name(d, v)}.sql": analysis_text(spec, d, v) for d in spec.dashboards for v in d.visuals}


def check_analyses(spec: Spec, folder: Path) -> list[str]:
    """What differs between analyses/ and the spec: missing, stale, or generated files no visual makes."""
    expected = expected_analyses(spec)
    problems = []
    for name, text in sorted(expected.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif path.read_text() != text:
            problems.append(f"{path} differs from the spec")
    for path in sorted(folder.glob("*.sql")):
        if path.name not in expected and GENERATED in path.read_text():
            problems.append(f"{path} is generated but no visual makes it any more")
    return problems


def write_analyses(spec: Spec, folder: Path) -> list[Path]:
    """Write every visual's query to analyses/, remove generated files no visual makes; the paths written."""
    expected = expected_analyses(spec)
    written = []
    for path in sorted(folder.glob("*.sql")):
        if path.name not in expected and GENERATED in path.read_text():
            path.unlink()
    for name, text in sorted(expected.items()):
        path = folder / name
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written
