"""The local preview as people see it: rendered with each person's own login, served beside the catalog,
opened in headless Chromium.

The numbers on an account manager's page must be the warehouse's under their login (their clients
only), and differ from finance's (every client) as their rights do; the charts must have drawn (plotted
marks for every data point, table cells), not only exist as HTML. Screenshots of both dashboards as an
account manager and as finance go to .unify/test-artifacts/dashboards_*.png for a reviewer.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from catalog_browser import Browser, png_stats
from support import pinned_env

from unify.catalog.server import open_server
from unify.dashboards.preview import DashboardError, page_name, query_dashboards, render_dashboards

MARKS = """Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => ({
  id: d.id,
  points: (d.data || []).reduce((n, t) => n + (t.y || []).filter(v => v !== null).length, 0),
  rows: (d.data || []).reduce((n, t) => n + (t.cells ? t.cells.values[0].length : 0), 0),
  drawn: d.querySelectorAll('.point').length,
  lines: d.querySelectorAll('path.js-line').length,
  cells: d.querySelectorAll('.cell-text').length,
}))"""


def _manager_with_some_clients(dw) -> tuple[str, set[str]]:
    """An account manager who owns some clients but not all, and those clients' codes (as the superuser
    reads the mapping)."""
    total = dw.query("select count(*) from analytics_marts.dim_client where is_current")[0][0]
    for login in dw.people("account_manager"):
        codes = {c for (c,) in dw.query(
            "select c.client_code from analytics_access.access_client_grants as g "
            "inner join analytics_marts.dim_client as c on c.client_id = g.client_id and c.is_current "
            "where g.login_name = %s", (login,))}
        if 0 < len(codes) < total:
            return login, codes
    pytest.fail("the simulation gave no account manager part of the clients")


@pytest.fixture(scope="module")
def people(dash_warehouse):
    manager, codes = _manager_with_some_clients(dash_warehouse)
    return {"manager": manager, "manager_clients": codes, "finance": dash_warehouse.people("finance")[0]}


def _visual(page, dashboard_id: str, visual_id: str):
    [result] = [r for r in page.dashboards[dashboard_id] if r.visual.id == visual_id]
    return [dict(zip(result.columns, row)) for row in result.rows]


def test_an_account_manager_sees_their_clients_figures_as_the_warehouse_gives_them(dash_warehouse, people):
    with pinned_env(UNIFY_ACCESS_USER_NAME_PREFIX=dash_warehouse.prefix):
        mine = query_dashboards(dash_warehouse.settings, people["manager"])
        finance = query_dashboards(dash_warehouse.settings, people["finance"])
    assert set(mine.dashboards) == set(finance.dashboards) == {"operations-health", "client-profitability"}
    by_client = {r["client_code"]: r for r in _visual(mine, "client-profitability", "profitability_by_client")}
    assert set(by_client) == people["manager_clients"]
    # the warehouse under their login, in SQL written here (all of the data is within the last 12 months)
    own = {code: revenue for code, revenue in dash_warehouse.query(
        "select client_code, sum(revenue_usd) from analytics_reporting.rpt_client_profitability_monthly "
        "group by client_code", login=people["manager"])}
    assert {c: r["revenue_usd"] for c, r in by_client.items()} == own
    everyone = {r["client_code"]: r for r in _visual(finance, "client-profitability", "profitability_by_client")}
    assert set(everyone) > set(by_client), "finance sees every client"
    for code, row in by_client.items():
        assert row == everyone[code], "a client's figures do not depend on who else the viewer sees"
    months = {r["month_start_date"]: r for r in _visual(finance, "client-profitability", "profitability_by_month")}
    for r in _visual(mine, "client-profitability", "profitability_by_month"):
        assert 0 < r["revenue_usd"] < months[r["month_start_date"]]["revenue_usd"]
    # the OTIF they see per warehouse is their clients' orders' OTIF, counted from fct_orders (the superuser
    # reads every row; restricted here to the manager's clients) over the last 28 days up to the as-of day
    expected = {w: round(Decimal(100) * otif / due, 2) for w, otif, due in dash_warehouse.query(
        """
        select w.warehouse_code, sum(case when o.is_otif then 1 else 0 end), count(*)
        from analytics_marts.fct_orders as o
        inner join analytics_marts.dim_warehouse as w on w.warehouse_id = o.warehouse_id
        inner join analytics_marts.dim_client as c on c.client_id = o.client_id and c.is_current
        where not o.is_cancelled and c.client_code = any(%s)
          and o.promised_delivery_date <= date '2026-11-03' and o.promised_delivery_date > date '2026-11-03' - 28
        group by w.warehouse_code
        """, (sorted(people["manager_clients"]),))}
    seen = {r["warehouse_code"]: r["otif_pct"] for r in _visual(mine, "operations-health", "otif_by_warehouse")
            if r["otif_pct"] is not None}
    assert seen == expected and seen
    # the at-risk list is the 20 most urgent of their clients' orders, never another client's
    names = {n for (n,) in dash_warehouse.query(
        "select client_name from analytics_marts.dim_client where is_current and client_code = any(%s)",
        (sorted(people["manager_clients"]),))}
    at_risk = _visual(mine, "operations-health", "at_risk_orders")
    assert len(at_risk) <= 20 and {r["client_name"] for r in at_risk} <= names
    deadlines = [r["required_ship_by_at"] for r in at_risk]
    assert deadlines == sorted(deadlines)


def test_a_person_without_a_dashboard_role_gets_a_clear_error(dash_warehouse):
    with pinned_env(UNIFY_ACCESS_USER_NAME_PREFIX=dash_warehouse.prefix):
        with pytest.raises(DashboardError, match="cannot log in"):
            query_dashboards(dash_warehouse.settings, "nobody@glc.example")


@pytest.fixture(scope="module")
def served(dash_warehouse, people, tmp_path_factory):
    out = tmp_path_factory.mktemp("pages")
    with pinned_env(UNIFY_ACCESS_USER_NAME_PREFIX=dash_warehouse.prefix):
        pages = {who: render_dashboards(dash_warehouse.settings, people[who], out) for who in ("manager", "finance")}
    server = open_server(dash_warehouse.target_path, port=0, dashboards=out)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.url, pages
    server.httpd.shutdown()
    server.httpd.server_close()


def test_pages_draw_every_chart_in_chromium_served_beside_the_catalog(served, people, artifacts_dir, tmp_path):
    url, pages = served
    drawn_by = {}
    for who in ("manager", "finance"):
        assert pages[who].name == page_name(people[who])
        with Browser(tmp_path / f"chromium-{who}", width=1440, height=1500) as browser:
            browser.navigate(f"{url}dashboards/{pages[who].name}")
            browser.wait_for("document.querySelectorAll('.visual').length === 10 && Array.from("
                             "document.querySelectorAll('.visual .js-plotly-plot')).filter(d => d._fullLayout)"
                             ".length === 10", "10 charts plotted")
            browser.wait_for(f"({MARKS}).every(p => p.drawn + p.cells > 0)", "every chart's marks")
            marks = browser.evaluate(MARKS)
            assert len(marks) == 10
            for m in marks:
                if m["rows"]:  # a table: its cells are drawn
                    assert m["cells"] > 0, m
                else:  # bars and line markers: one drawn mark per data point with a value
                    assert m["points"] > 0 and m["drawn"] == m["points"], m
            assert sum(m["lines"] for m in marks) >= 3, "the line charts drew their lines"
            text = browser.text()
            assert people[who] in text
            shown = int(browser.evaluate("document.getElementById('client-count').textContent"))
            drawn_by[who] = (shown, {m["id"]: m["points"] or m["rows"] for m in marks})
            for dashboard in ("operations-health", "client-profitability"):
                browser.evaluate(f"document.getElementById('{dashboard}').scrollIntoView()")
                browser.wait_for("true", "scroll")
                shot = browser.screenshot(artifacts_dir / f"dashboards_{who}_{dashboard}.png")
                width, height, colours, dominant = png_stats(shot)
                assert (width, height) == (1440, 1500)
                assert colours >= 200 and dominant < 0.9, f"{shot} looks blank"
    assert drawn_by["manager"][0] == len(people["manager_clients"]) < drawn_by["finance"][0]
    assert (drawn_by["manager"][1]["client-profitability--profitability_by_client"]
            < drawn_by["finance"][1]["client-profitability--profitability_by_client"])
    assert not any(u for u in browser.requests if not u.startswith(url)), "the page reached beyond the server"
