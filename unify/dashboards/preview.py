"""The local preview: both dashboards as a static page, drawn with Plotly, as one person sees them.

`render_dashboards(settings, person, out_dir)` logs in to the warehouse AS THAT PERSON (their own login
role, so the warehouse's row-level security applies: an account manager sees only their clients), finds
which dashboards their role may see (the spec's audience), runs each visual's query (queries.py: the
same SQL as analyses/) and writes `<out_dir>/<person>.html`: interactive Plotly charts whose JavaScript
(plotly.min.js, from the plotly package: no network needed) sits once beside the pages, plus an index
of the pages rendered. `unify docs serve` serves the folder at /dashboards/.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from loaders.config import Settings
from unify.dashboards.queries import FilterValues, visual_sql
from unify.dashboards.spec import Dashboard, Spec, Visual, load_spec

log = logging.getLogger(__name__)

PLOTLY_JS = "plotly.min.js"
PAGE_HEIGHT = 380


class DashboardError(Exception):
    """The preview cannot be rendered for this person: no login, no dashboard role, a query refused."""


@dataclass
class VisualResult:
    visual: Visual
    columns: list[str]
    rows: list[tuple]
    sql: str


@dataclass
class RenderedPage:
    person: str
    roles: list[str]
    clients: list[str]
    dashboards: dict[str, list[VisualResult]] = field(default_factory=dict)  # dashboard id -> its visuals
    path: Path | None = None


def default_out_dir(settings: Settings) -> Path:
    return settings.home / "dashboards"


def page_name(person: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", person.lower()).strip("-") + ".html"


def warehouse_user(person: str, env: dict[str, str] | None = None) -> str:
    """The person's warehouse user name: their login with the platform's prefix (dbt var
    access_user_name_prefix, env UNIFY_ACCESS_USER_NAME_PREFIX), as the policies match it."""
    env = os.environ if env is None else env
    return env.get("UNIFY_ACCESS_USER_NAME_PREFIX", "") + person.lower()


def _teams(cur) -> list[str]:
    from unify.access import TEAM_ROLES

    cur.execute("select r.rolname from pg_catalog.pg_roles as r "
                "where r.rolname = any(%s) and pg_has_role(current_user, r.oid, 'member')",
                (list(TEAM_ROLES.values()),))
    held = {name for (name,) in cur.fetchall()}
    return sorted(team for team, role in TEAM_ROLES.items() if role in held)


def query_dashboards(settings: Settings, person: str, spec: Spec | None = None,
                     pinned: FilterValues | None = None, schema: str | None = None) -> RenderedPage:
    """Run every visual the person's role may see, as the person; nothing is drawn yet."""
    import psycopg2

    from unify.dbt_runner import dbt_schema

    spec = spec or load_spec()
    schema = schema or dbt_schema()
    user = warehouse_user(person)
    try:
        conn = psycopg2.connect(settings.dsn(user=user), connect_timeout=30, application_name="unify-dashboards")
    except psycopg2.OperationalError as err:
        raise DashboardError(f"cannot log in to {settings.url(user=user)} as {user!r}: {str(err).strip()} "
                             "(the demo creates a login per person of the access mapping: "
                             "`unify access local-logins`)") from None
    try:
        conn.set_session(readonly=True, autocommit=True)
        with conn.cursor() as cur:
            teams = _teams(cur)
            mine = [d for d in spec.dashboards if set(d.audience) & set(teams)]
            if not mine:
                raise DashboardError(f"{user!r} holds no dashboard role (roles {', '.join(teams) or 'none'}; "
                                     f"the dashboards' audiences: "
                                     + "; ".join(f"{d.name}: {', '.join(d.audience)}" for d in spec.dashboards) + ")")
            page = RenderedPage(person, teams, _clients(cur, schema))
            for dashboard in mine:
                page.dashboards[dashboard.id] = [_run(cur, spec, dashboard, v, schema, pinned)
                                                 for v in dashboard.visuals]
    finally:
        conn.close()
    return page


def _clients(cur, schema: str) -> list[str]:
    """The clients the warehouse lets this login see (through its policy on the client dimension)."""
    import psycopg2

    try:
        cur.execute(f'select distinct client_name from "{schema}_reporting".rpt_client_profitability_monthly '
                    "where client_name is not null order by 1")
    except psycopg2.Error as err:
        raise DashboardError(f"reading the clients this login sees: {str(err).strip()}") from None
    return [name for (name,) in cur.fetchall()]


def _run(cur, spec: Spec, dashboard: Dashboard, visual: Visual, schema: str,
         pinned: FilterValues | None) -> VisualResult:
    import psycopg2

    sql, params = visual_sql(dashboard, visual, spec.datasets[visual.dataset],
                             lambda table: f'"{schema}_reporting"."{table}"', pinned)
    try:
        cur.execute(sql, params)
    except psycopg2.Error as err:
        raise DashboardError(f"{dashboard.name} / {visual.id}: {str(err).strip()}") from None
    columns = [d.name for d in cur.description]
    return VisualResult(visual, columns, cur.fetchall(), sql)


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def figure(spec: Spec, dashboard: Dashboard, result: VisualResult, total: int | None = None):
    """The Plotly figure of one visual's rows."""
    import plotly.graph_objects as go

    v = result.visual
    ds = spec.datasets[v.dataset]
    data = [dict(zip(result.columns, map(_plain, row))) for row in result.rows]
    title = v.title if total is None else f"{v.title} ({len(data)} of {total})"
    fig = go.Figure()
    if v.kind == "table":
        shown = list(v.columns) or [*v.dimensions, *v.drawn_measures]
        labels = [ds.measures[c].label if c in ds.measures else c.replace("_", " ") for c in shown]
        fig.add_trace(go.Table(header={"values": labels, "align": "left"},
                               cells={"values": [[row[c] for row in data] for c in shown], "align": "left"}))
    else:
        trace = go.Scatter if v.kind == "line" else go.Bar
        extra = {"mode": "lines+markers"} if v.kind == "line" else {}
        measures = v.drawn_measures
        if v.color:
            for key in sorted({row[v.color] for row in data}, key=str):
                rows = [row for row in data if row[v.color] == key]
                for m in measures:
                    name = str(key) if len(measures) == 1 else f"{key} {ds.measures[m].label}"
                    fig.add_trace(trace(x=[r[v.x] for r in rows], y=[r[m] for r in rows], name=name, **extra))
        else:
            for m in measures:
                fig.add_trace(trace(x=[r[v.x] for r in data], y=[r[m] for r in data], name=ds.measures[m].label,
                                    **extra))
        fig.update_layout(barmode="stack" if v.stacked else "group", legend={"orientation": "h", "y": -0.2})
        fig.update_xaxes(type="category" if v.kind == "bar" else "-")
    fig.update_layout(title={"text": html.escape(title)}, height=PAGE_HEIGHT, template="plotly_white",
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig


def _total(results: list[VisualResult], visual: Visual) -> int | None:
    """For a top-N list: how many rows there are in all, from the visual it names (total_from)."""
    source = visual.total_from
    if not source:
        return None
    for r in results:
        if r.visual.id == source:
            measure = r.visual.measures[0]
            index = r.columns.index(measure)
            return int(sum(row[index] or 0 for row in r.rows))
    return None


def render_page(spec: Spec, page: RenderedPage) -> str:
    parts = []
    for dashboard_id, results in page.dashboards.items():
        dashboard = spec.dashboard(dashboard_id)
        charts = []
        for r in results:
            fig = figure(spec, dashboard, r, _total(results, r.visual))
            div_id = f"{dashboard.id}--{r.visual.id}"
            charts.append(f'<div class="visual" data-visual="{div_id}" data-rows="{len(r.rows)}">'
                          + fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                                        default_width="100%",
                                        config={"displaylogo": False, "responsive": True})
                          + "</div>")
        filters = ", ".join(f.label for f in dashboard.filters.values())
        parts.append(f'<section class="dashboard" id="{dashboard.id}"><h2>{html.escape(dashboard.name)}</h2>'
                     f'<p class="about">{html.escape(dashboard.description)} Filters: {html.escape(filters)} '
                     f'(defaults).</p><div class="grid">{"".join(charts)}</div></section>')
    skipped = [d.name for d in spec.dashboards if d.id not in page.dashboards]
    note = (f"<p>Not for this role: {html.escape(', '.join(skipped))}.</p>" if skipped else "")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Dashboards as {html.escape(page.person)}</title>
<script src="{PLOTLY_JS}"></script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1rem 2rem; color: #222; }}
header {{ border-bottom: 1px solid #ccc; margin-bottom: 1rem; }}
.grid {{ display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 1rem; }}
.visual {{ border: 1px solid #e5e5e5; border-radius: 4px; min-width: 0; overflow: hidden; }}
.about {{ color: #555; }}
</style></head>
<body>
<header><h1>GLC dashboards: local preview</h1>
<p id="viewer">Signed in to the warehouse as <b>{html.escape(page.person)}</b>
(role: {html.escape(', '.join(page.roles))}); row-level security shows
<b id="client-count">{len(page.clients)}</b> client(s):
<span id="clients">{html.escape(', '.join(page.clients))}</span>.</p>
{note}<p class="about">Rendered {stamp} from the reporting tables; the same visuals as QuickSight
(unify/dashboards/spec.yml).</p></header>
{''.join(parts)}
</body></html>
"""


def write_plotly_js(out_dir: Path) -> Path:
    """plotly.js from the installed plotly package, once per folder (and again when the package changed)."""
    from plotly.offline import get_plotlyjs

    path = out_dir / PLOTLY_JS
    text = get_plotlyjs()
    if not path.is_file() or path.stat().st_size != len(text.encode()):
        path.write_text(text)
    return path


def write_index(out_dir: Path) -> Path:
    pages = sorted(p.name for p in out_dir.glob("*.html") if p.name != "index.html")
    links = "".join(f'<li><a href="{html.escape(p)}">{html.escape(p.removesuffix(".html"))}</a></li>' for p in pages)
    path = out_dir / "index.html"
    path.write_text(f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>GLC dashboards</title>'
                    f"</head><body><h1>GLC dashboards: local preview</h1><p>One page per person, rendered "
                    f"with their own login (`unify dashboards --as PERSON`):</p><ul>{links}</ul></body></html>\n")
    return path


def render_dashboards(settings: Settings, person: str, out_dir: Path | None = None,
                      pinned: FilterValues | None = None) -> Path:
    """Render both dashboards as `person` sees them; the page's path. Raises DashboardError."""
    spec = load_spec()
    out_dir = Path(out_dir or default_out_dir(settings))
    page = query_dashboards(settings, person, spec, pinned)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_plotly_js(out_dir)
    page.path = out_dir / page_name(person)
    page.path.write_text(render_page(spec, page))
    write_index(out_dir)
    log.info(json.dumps({"event": "dashboards_rendered", "person": person, "roles": page.roles,
                         "clients": len(page.clients), "dashboards": list(page.dashboards), "path": str(page.path)}))
    return page.path
