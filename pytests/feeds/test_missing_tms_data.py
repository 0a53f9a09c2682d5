"""TMS data missing for some shipments fails the build instead of printing zero.

A shipment without a freight cost makes its order's freight unknown and fails the build, never zero.

The TMS promises no freight cost on every shipment (an empty field is NULL, SOURCE_FORMATS.md), and a
missing one priced at zero would understate the month's cost and freight recharge while every check
passed. In a copy of the hand-written landing zone, every delivered version of shipment SHP-000101
(client 501 KESTREL-01) loses its freight cost: client 501's month has no cost or revenue (unknown, not
understated), client 502's is unchanged, and profitability_every_shipment_has_its_freight_cost fails.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import support
from feeds_support import DBT_ENV, landing_copy, load_and_build
from unify.dbt_runner import run_dbt


def _rewrite_csv(path, change) -> int:
    """Rewrite a TMS CSV file with `change(header, rows) -> rows`, keeping its BOM and line breaks;
    returns how many records changed or went."""
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    newline = "\r\n" if "\r\n" in text else "\n"
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    before = [list(row) for row in rows]
    after = change(header, rows)
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator=newline).writerows([header, *after])
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode())
    if len(after) != len(before):
        return len(before) - len(after)
    return sum(a != b for a, b in zip(before, after))


def _blank_freight(path, shipment_id: str) -> int:
    def change(header, rows):
        key, cost = header.index("shipment_id"), header.index("freight_cost")
        return [[*row[:cost], "", *row[cost + 1:]] if row and row[key] == shipment_id else row for row in rows]
    return _rewrite_csv(path, change)


def test_a_shipment_without_freight_cost_fails_the_build_and_leaves_the_month_unknown(fresh_database, tmp_path):
    landing = landing_copy(tmp_path / "landing")
    blanked = sum(_blank_freight(path, "SHP-000101") for path in (landing / "tms/shipments").rglob("*.csv"))
    assert blanked > 0
    built = load_and_build(fresh_database, landing, tmp_path / "target")
    assert built.load_exit == 0, built.load_stdout[-3000:]
    assert built.build_exit != 0
    results = {r["unique_id"].split(".")[2]: r for r in
               json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]}
    assert results["profitability_every_shipment_has_its_freight_cost"]["status"] == "fail"
    assert results["profitability_every_shipment_has_its_freight_cost"]["failures"] == 1  # client 501's November
    money = support.query(fresh_database, "select client_id, revenue_usd, cost_usd, orders_without_freight_cost "
                                          "from analytics_marts.fct_client_profitability_monthly order by client_id")
    # 502's figures are the hand-computed ones of test_reference_data (76.50, 71.40)
    assert money == [(501, None, None, 1), (502, Decimal("76.50"), Decimal("71.40"), 0)]


def test_a_small_client_month_without_any_tms_shipment_fails_whatever_its_size(fresh_database, tmp_path):
    """Every TMS shipment of client 502 (SHP-0002xx) is missing: its OTIF would read 0%. The size rule
    (at least completeness_min_due_orders due orders, raised here to 10 so that it cannot fire on 502's 3)
    must not hide it: a client-month whose shipped orders have no TMS shipment at all fails."""
    landing = landing_copy(tmp_path / "landing")
    removed = sum(_drop_rows(path, "SHP-0002") for path in (landing / "tms/shipments").rglob("*.csv"))
    assert removed > 0
    built = load_and_build(fresh_database, landing, tmp_path / "target")
    assert built.load_exit == 0, built.load_stdout[-3000:]
    run_dbt(["test", "--select", "assert_otif_denominators_have_deliveries", "--vars",
             "{completeness_min_due_orders: 10}"], fresh_database, target_path=tmp_path / "test",
            capture=True, check=False, env=DBT_ENV)
    result = next(r for r in json.loads((tmp_path / "test" / "run_results.json").read_text())["results"]
                  if r["unique_id"].split(".")[2] == "assert_otif_denominators_have_deliveries")
    assert (result["status"], result["failures"]) == ("fail", 1)  # client 502's November


def _drop_rows(path, shipment_prefix: str) -> int:
    def change(header, rows):
        key = header.index("shipment_id")
        return [row for row in rows if not (row and row[key].startswith(shipment_prefix))]
    return _rewrite_csv(path, change)
