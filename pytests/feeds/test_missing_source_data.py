"""Data missing from a feed fails the build instead of printing a number that means nothing.

One copy of the hand-written landing zone loses, by hand, three things a real feed can lose, and is
loaded and built once, then every model run and every test run once more (each loss reaches
different tests, and in `dbt build` one failing test would skip the models after it):

- every delivered version of TMS shipment SHP-000101 (client 501) loses its freight cost (an empty
  field is NULL in the TMS extract): priced at zero it understated the month's cost and freight
  recharge; now client 501's month has no cost or revenue (unknown, not understated) and
  profitability_every_shipment_has_its_freight_cost fails;
- every TMS shipment of client 502 (SHP-0002xx) is missing: its OTIF would read 0%. The size rule of the
  OTIF completeness test (at least completeness_min_due_orders due orders, raised to 10 below so that it
  cannot fire on 502's 3) must not hide it: a client-month whose shipped orders have no TMS shipment at
  all fails assert_otif_denominators_have_deliveries;
- order 70102's line (shipped in full on 11-03) is left out of the DMS OrderLines files: with no line
  there was no short line, so it counted as in full; now it is neither in full nor OTIF and
  shipped_orders_have_lines fails with that one order;
- shipment SHP-000102's freight cost arrives as `NaN` (PostgreSQL's numeric takes it; Redshift's DECIMAL
  refuses it): every sum over it would read NaN; finite_number on stg_tms__shipments.freight_cost fails;
- and two children gain a parent that never arrives: TMS shipment SHP-000999 names order SO-Z-9999 and
  a shipped order line (800999) names order 79999, neither ever in the WMS: by the metric definitions they
  count nowhere, and assert_children_reach_their_wms_order warns about both.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

import feeds_support
import support
from feeds_support import DBT_ENV, landing_copy, load_and_build, new_database
from unify.dbt_runner import run_dbt


def _rewrite_csv(path, change) -> None:
    """Rewrite a TMS CSV file with `change(header, rows) -> rows`, keeping its BOM and line breaks."""
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    newline = "\r\n" if "\r\n" in text else "\n"
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator=newline).writerows([header, *change(header, rows)])
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode())


def _with_freight(shipment_id: str, cost: str):
    """Every delivered version of the shipment with this freight cost ("" : none, an empty field is NULL)."""
    def change(header, rows):
        key, at = header.index("shipment_id"), header.index("freight_cost")
        return [[*row[:at], cost, *row[at + 1:]] if row and row[key] == shipment_id else row for row in rows]
    return change


def _with_orphan_shipment(header, rows):
    """A shipment of 11-01 (more than the 2-day grace before the WMS's newest order change, 11-04 15:00), in
    the 11-04 extract, for an order the WMS never delivers."""
    values = {"shipment_id": "SHP-000999", "order_number": "SO-Z-9999", "warehouse_code": "LHR1", "carrier_id": "C7",
              "service_level": "STANDARD", "tracking_number": "KH000999GB", "shipped_at": "2026-11-01T12:00:00Z",
              "estimated_delivery_at": "2026-11-06T21:00:00Z", "updated_at": "2026-11-04T12:00:00Z",
              "status": "IN_TRANSIT", "delivered_at": "", "weight_kg": "1.000", "freight_cost": "5.00",
              "currency": "GBP"}
    return [*rows, [values[name] for name in header]]


def _without_shipments(prefix: str):
    def change(header, rows):
        key = header.index("shipment_id")
        return [row for row in rows if not (row and row[key].startswith(prefix))]
    return change


@pytest.fixture(scope="module")
def built(warehouse, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("missing")
    landing = landing_copy(tmp / "landing")
    shipments = sorted((landing / "tms/shipments").rglob("*.csv"))
    before = [path.read_bytes() for path in shipments]
    for path in shipments:
        _rewrite_csv(path, _with_freight("SHP-000101", ""))
        _rewrite_csv(path, _with_freight("SHP-000102", "NaN"))
        _rewrite_csv(path, _without_shipments("SHP-0002"))
    assert [path.read_bytes() for path in shipments] != before
    _rewrite_csv(next(p for p in shipments if "dt=2026-11-04" in p.as_posix()), _with_orphan_shipment)
    for path in (landing / "dms/azureware/dbo/OrderLines").glob("*.parquet"):
        path.unlink()
    with pytest.MonkeyPatch.context() as patch:
        lines = [r for r in feeds_support.ORDER_LINES if r[4] != 70102]
        # a line shipped in full on 11-02 08:00 (more than the grace before the WMS's newest order change),
        # of an order the WMS never delivers
        (day, _op, committed, _line, _order, number, product, ordered, *_qty, modified, seq) = next(
            r for r in lines if r[3] == 800001 and r[1] == "I")
        lines.append((day, "I", committed, 800999, 79999, number, product, ordered, ordered, ordered, modified,
                      seq[:-3] + "999"))
        patch.setattr(feeds_support, "ORDER_LINES", lines)
        feeds_support.write_order_lines_parquet(landing)
    settings = new_database(warehouse)
    result = load_and_build(settings, landing, tmp / "target")
    assert result.load_exit == 0, result.load_stdout[-3000:]
    assert result.build_exit != 0
    # in `dbt build` a failing test skips the models after it, which would hide the next tests' verdicts:
    # every model is built, then every test runs (as test_reference_data.py does)
    run_dbt(["run"], settings, target_path=tmp / "run", capture=True, check=False, env=DBT_ENV)
    run_dbt(["test"], settings, target_path=result.target, capture=True, check=False, env=DBT_ENV)
    yield result
    support.drop_database(warehouse, settings.pg_database)



def test_a_shipment_without_freight_cost_fails_the_build_and_leaves_the_month_unknown(built):
    assert built.outcome("profitability_every_shipment_has_its_freight_cost") == ("fail", 1)  # 501's November
    assert built.query("select revenue_usd, cost_usd, orders_without_freight_cost from "
                       "analytics_marts.fct_client_profitability_monthly where client_id = 501") == [(None, None, 1)]
    # and the dashboard's table shows it unknown, not $0
    assert built.query("select revenue_usd, cost_usd from analytics_reporting.rpt_client_profitability_monthly "
                       "where client_id = 501 and shipped_orders > 0") == [(None, None)]


def test_a_freight_cost_that_is_not_a_number_fails_its_test(built):
    assert built.outcome("finite_number_stg_tms__shipments_freight_cost") == ("fail", 1)  # SHP-000102
    assert built.outcome("finite_number_stg_tms__shipments_weight_kg") == ("pass", 0)


def test_a_shipped_order_without_lines_is_not_in_full_and_fails_the_build(built):
    assert built.outcome("shipped_orders_have_lines") == ("fail", 1)
    assert built.query("select line_count, is_in_full, is_otif from analytics_marts.fct_orders "
                       "where order_id = 70102") == [(0, False, False)]


def test_a_small_client_month_without_any_tms_shipment_fails_whatever_its_size(built):
    target = built.target.parent / "completeness"
    run_dbt(["test", "--select", "assert_otif_denominators_have_deliveries", "--vars",
             "{completeness_min_due_orders: 10}"], built.settings, target_path=target,
            capture=True, check=False, env=DBT_ENV)
    result = next(r for r in json.loads((target / "run_results.json").read_text())["results"]
                  if r["unique_id"].split(".")[2] == "assert_otif_denominators_have_deliveries")
    assert (result["status"], result["failures"]) == ("fail", 1)  # client 502's November


def test_shipments_and_lines_whose_order_never_arrives_count_nowhere_and_warn(built):
    assert built.outcome("assert_children_reach_their_wms_order") == ("warn", 2)
    assert built.query("select count(*) from analytics_marts.fct_shipments where shipment_id = 'SHP-000999'") == [(0,)]
    assert built.query("select count(*) from analytics_marts.fct_order_lines where order_line_id = 800999") == [(0,)]
