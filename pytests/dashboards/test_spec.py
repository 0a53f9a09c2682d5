"""The dashboards' spec: what it refuses, and the SQL it gives each visual (hand-checked cases)."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path

import pytest
import yaml

from unify.dashboards.queries import FilterValues, visual_sql
from unify.dashboards.spec import SPEC_PATH, SpecError, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
RAW = yaml.safe_load(SPEC_PATH.read_text())


def _broken(change) -> dict:
    raw = copy.deepcopy(RAW)
    change(raw)
    return raw


@pytest.mark.parametrize("change, message", [
    (lambda r: r["dashboards"][0]["visuals"][0].update(measures=["nope"]), "has no measure 'nope'"),
    (lambda r: r["dashboards"][0]["visuals"][0].update(dataset="rpt_quicksight_rls_rules"), "not a dashboard data set"),
    (lambda r: r["dashboards"][0]["visuals"][0].update(filters=["nope"]), "no filter 'nope'"),
    (lambda r: r["dashboards"][0].update(audience=["loader"]), "unknown roles"),
    (lambda r: r["datasets"]["rpt_operations_health_daily"]["measures"].update(x={"sum": "no_such_column"}),
     "does not have"),
    (lambda r: r["datasets"].update(rpt_nope={"client_scoped": True}), "is not a model"),
    (lambda r: r["dashboards"][1]["visuals"][0].update(filters=["period"]), "no filter 'period'"),
])
def test_an_inconsistent_spec_is_refused_with_the_place_and_reason(change, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(_broken(change), ROOT)


def test_every_client_scoped_data_set_carries_the_text_client_key():
    spec = load_spec()
    for table, ds in spec.datasets.items():
        if ds.client_scoped or ds.rules:
            assert ds.column("client_key").data_type.startswith("varchar"), table
            assert ds.column("client_id").data_type == "integer", f"{table}: the warehouse's policy column"


def test_a_ratio_is_a_ratio_of_sums_and_pinned_filters_are_bound_parameters():
    spec = load_spec()
    ops = spec.dashboard("operations-health")
    visual = next(v for v in ops.visuals if v.id == "otif_by_warehouse")
    sql, params = visual_sql(ops, visual, spec.datasets[visual.dataset], lambda t: f"s.{t}",
                             FilterValues(date_from=date(2026, 11, 1), date_to=date(2026, 11, 7),
                                          values={"warehouse": ("LHR1",), "client": ("Acme's",)}))
    assert "round(100.0 * sum(otif_orders) / nullif(sum(due_orders), 0), 2) as otif_pct" in sql
    assert "activity_date between %(period_from)s and %(period_to)s" in sql
    assert "and warehouse_code in %(warehouse)s" in sql and "and client_name in %(client)s" in sql
    assert "Acme" not in sql, "values never reach the SQL text"
    assert params == {"period_from": date(2026, 11, 1), "period_to": date(2026, 11, 7), "warehouse": ("LHR1",),
                      "client": ("Acme's",)}
    assert sql.rstrip().endswith("order by warehouse_code")
    # defaults: relative to the newest day in the table, no parameters
    sql, params = visual_sql(ops, visual, spec.datasets[visual.dataset], lambda t: f"s.{t}")
    assert params == {} and "activity_date > (select newest.newest_date from newest_activity_date as newest) - 28" in sql


def test_the_at_risk_list_returns_the_top_20_in_deadline_order_not_every_order():
    spec = load_spec()
    ops = spec.dashboard("operations-health")
    visual = next(v for v in ops.visuals if v.id == "at_risk_orders")
    sql, _ = visual_sql(ops, visual, spec.datasets[visual.dataset], lambda t: t)
    assert sql.rstrip().endswith("order by required_ship_by_at, order_number\nlimit 20")
    assert visual.total_from == "at_risk_by_warehouse"


def test_the_demo_summary_analysis_keeps_its_name_and_columns():
    import re

    import sqlglot

    text = (ROOT / "analyses" / "client_profitability__otif_by_client_last_month.sql").read_text()
    sql = re.sub(r"\{\{ ref\('(\w+)'\) \}\}", r"\1", re.sub(r"\{#.*?#\}", "", text, flags=re.S))
    tree = sqlglot.parse_one(sql, read="redshift")
    final = next(cte for cte in tree.find_all(sqlglot.exp.CTE) if cte.alias == "final")
    assert [e.alias_or_name for e in final.this.expressions] == [
        "client_code", "client_name", "month_start_date", "due_orders", "otif_orders", "otif_pct", "otif_target_pct"]
