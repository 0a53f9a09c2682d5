"""Incremental models under late and out-of-order deliveries: an incremental run equals a full refresh.

Hand-built raw rows (the loaders' raw tables, created from loaders/source_tables.py) go through the
staging and fact models (and the inventory balances, which rank new versions against the current
winner) twice: incrementally after a first build, then with --full-refresh. The loaders stamp
`_loaded_at` strictly rising in commit order, whatever the clock does (docs/loaders.md; proved by
pytests/load/test_load_exactly_once.py), so every batch the first build did not see is stamped after its
high-water mark, however old its data: late deliveries (old event times) and out-of-order ones (an older
DMS change sequence landing after a newer one, a TMS correction re-delivered) are picked up with the
project's default lookback of 0, and the facts equal a full refresh. Rows stamped before the mark
although the first build did not see them are what the loaders cannot write, but a hand-written repair
can: the default misses them (the documented limit), and raising the lookback for one run covers those
it reaches (a batch 5 minutes before the mark with 10 minutes; not one 20 minutes before): the test fails
if the cutoff ignores the lookback or reads it in the wrong unit.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import psycopg2
import pytest
import yaml
from raw_rows import (INVENTORY_COLUMNS, LINE_COLUMNS, ORDER_COLUMNS, SHIPMENT_COLUMNS, insert_rows,
                      inventory_row, line_row, order_row, shipment_row)

from unify.dbt_runner import run_dbt

SELECT = ["--select", "+fct_orders +fct_order_lines +fct_shipments stg_azureware__inventory_balances",
          "--resource-type", "model", "--resource-type", "seed"]
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 12, 0, 0)  # the first build's high-water mark (every raw table's newest load)
# Rows written after the first build but stamped before its mark (by hand: the loaders cannot), within a
# 10-minute lookback and beyond it.
RAISED_LOOKBACK = 10
WITHIN_LOOKBACK = T0 - timedelta(minutes=5)
BEYOND_LOOKBACK = T0 - timedelta(minutes=20)
FACT_QUERIES = {
    "fct_orders": "select order_id, order_status, shipped_at, delivered_date, is_on_time, is_in_full, is_otif, "
                  "units_shipped, shipment_count from analytics_marts.fct_orders order by order_id",
    "fct_order_lines": "select order_line_id, order_id, qty_ordered, qty_shipped, ship_month "
                       "from analytics_marts.fct_order_lines order by order_line_id",
    "fct_shipments": "select shipment_id, order_id, delivered_at, freight_cost, freight_cost_usd "
                     "from analytics_marts.fct_shipments order by shipment_id",
    # staging, not a fact: the incremental model that ranks new versions against the current winner
    "stg_azureware__inventory_balances": "select product_id, warehouse_id, qty_on_hand, qty_allocated, is_deleted "
                                         "from analytics_staging.stg_azureware__inventory_balances "
                                         "order by product_id, warehouse_id",
}

def _facts(settings) -> dict[str, list[tuple]]:
    conn = psycopg2.connect(settings.dsn())
    result = {}
    with conn.cursor() as cur:
        for name, sql in FACT_QUERIES.items():
            cur.execute(sql)
            result[name] = cur.fetchall()
    conn.close()
    return result


def _project_default_lookback_minutes() -> int:
    """The default of var incremental_lookback_minutes in dbt_project.yml (env override's fallback)."""
    project = yaml.safe_load((ROOT / "dbt_project.yml").read_text())
    value = project["vars"]["incremental_lookback_minutes"]
    found = re.fullmatch(r"\{\{ env_var\('UNIFY_INCREMENTAL_LOOKBACK_MINUTES', '(\d+)'\) \}\}", value)
    assert found, f"unexpected incremental_lookback_minutes: {value!r}"
    return int(found.group(1))


def test_the_default_lookback_is_zero_and_the_rows_bracket_the_raised_one():
    assert _project_default_lookback_minutes() == 0
    assert T0 - timedelta(minutes=RAISED_LOOKBACK) < WITHIN_LOOKBACK < T0
    assert BEYOND_LOOKBACK < T0 - timedelta(minutes=RAISED_LOOKBACK)


@pytest.mark.parametrize(("lookback", "missed_orders", "missed_products"), [
    # the project's default (env unset, 0): every batch stamped after the mark, none stamped before it
    (None, [3, 6], [1002, 1003]),
    # raised for one run: the rows stamped within it are picked up, those beyond it still missed
    (str(RAISED_LOOKBACK), [6], [1003]),
], ids=["default_lookback", "raised_lookback"])
def test_incremental_run_equals_full_refresh_under_late_and_out_of_order_deliveries(
        fresh_raw_database, tmp_path: Path, monkeypatch, lookback: str | None, missed_orders: list[int],
        missed_products: list[int]):
    settings = fresh_raw_database
    target = tmp_path / "target"
    monkeypatch.delenv("UNIFY_INCREMENTAL_LOOKBACK_MINUTES", raising=False)
    env = {} if lookback is None else {"UNIFY_INCREMENTAL_LOOKBACK_MINUTES": lookback}
    early = T0 - timedelta(hours=2)  # a load well before the mark: outside any lookback
    day1 = datetime(2026, 3, 1, 9, 0, 0)
    # ---- first cycle: full load of orders (empty change seq), lines, one shipment; the newest load at T0
    insert_rows(settings, "raw_azureware.orders", ORDER_COLUMNS, [
        order_row(1, "NEW", day1, T0, op="I", full_load=True),
        order_row(1, "SHIPPED", datetime(2026, 3, 1, 14), T0, shipped=datetime(2026, 3, 1, 14)),
        order_row(2, "PACKED", day1, T0, op="I", full_load=True),
        order_row(3, "PACKED", day1, early, op="I", full_load=True),
        order_row(4, "NEW", day1, T0, op="I", full_load=True),
        order_row(5, "SHIPPED", day1, T0, op="I", shipped=datetime(2026, 3, 1, 15), full_load=True),
        order_row(6, "PACKED", day1, early, op="I", full_load=True),
        order_row(8, "NEW", day1, T0, op="I", full_load=True),
    ])
    insert_rows(settings, "raw_azureware.order_lines", LINE_COLUMNS, [
        line_row(11, 1, 2, day1, T0), line_row(21, 2, 0, day1, T0), line_row(31, 3, 0, day1, early),
        line_row(41, 4, 0, day1, T0), line_row(51, 5, 2, day1, T0), line_row(61, 6, 0, day1, early),
        line_row(71, 7, 2, day1, T0),  # its order arrives only in the second cycle
        line_row(81, 8, 0, day1, T0),
    ])
    insert_rows(settings, "raw_tms.shipments", SHIPMENT_COLUMNS, [
        shipment_row("SHP-501", 5, None, datetime(2026, 3, 1, 15), T0),
        shipment_row("SHP-901", 9, datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 9), T0),  # order 9 never arrives
    ])
    insert_rows(settings, "raw_azureware.inventory_balances", INVENTORY_COLUMNS, [
        inventory_row(1001, 50, day1, T0, op="I"), inventory_row(1002, 20, day1, early, op="I"),
        inventory_row(1003, 30, day1, early, op="I"),
    ])
    run_dbt(["build", *SELECT], settings, target_path=target, capture=True, env=env)
    first = _facts(settings)
    assert [r[0] for r in first["fct_orders"]] == [1, 2, 3, 4, 5, 6, 8]
    assert 71 not in [r[0] for r in first["fct_order_lines"]], "a line without its order must wait"
    assert [r[0] for r in first["fct_shipments"]] == ["SHP-501"], "a shipment without its order counts nowhere"

    # ---- second cycle. Batches committed after the first build, stamped in commit order after its mark:
    t1, t2 = T0 + timedelta(minutes=10), T0 + timedelta(minutes=12)
    day2 = datetime(2026, 3, 2, 10, 0, 0)
    insert_rows(settings, "raw_azureware.orders", ORDER_COLUMNS, [
        # out of order: an OLDER change of order 1 lands now (lower change seq): must not win
        order_row(1, "PICKING", datetime(2026, 3, 1, 10), t1),
        # late: order 2's shipping, from yesterday afternoon, delivered only now
        order_row(2, "SHIPPED", datetime(2026, 3, 1, 16), t1, shipped=datetime(2026, 3, 1, 16)),
        # order 4 is deleted (DMS delete carries the row before the delete)
        order_row(4, "NEW", day2, t1, op="D"),
        # late: order 7, created yesterday, arrives after its line
        order_row(7, "SHIPPED", day1, t1, op="I", shipped=day2),
        # out of order within one file: the newer change of order 8 first, an older one after it
        order_row(8, "SHIPPED", datetime(2026, 3, 2, 11), t1, shipped=datetime(2026, 3, 2, 11)),
        order_row(8, "PICKING", datetime(2026, 3, 2, 10), t1),
    ])
    insert_rows(settings, "raw_azureware.orders", ORDER_COLUMNS, [
        # out of order across batches: an even older change of order 8 in a later batch
        order_row(8, "PACKED", datetime(2026, 3, 2, 9, 30), t2),
    ])
    insert_rows(settings, "raw_azureware.order_lines", LINE_COLUMNS, [
        line_row(21, 2, 2, datetime(2026, 3, 1, 16), t1, op="U"),
        line_row(41, 4, 0, day2, t1, op="D"),
        line_row(81, 8, 2, datetime(2026, 3, 2, 11), t1, op="U"),
    ])
    insert_rows(settings, "raw_tms.shipments", SHIPMENT_COLUMNS, [
        # order 5's shipment is delivered; an older version of it is re-delivered in the same batch
        shipment_row("SHP-501", 5, datetime(2026, 3, 3, 9), datetime(2026, 3, 3, 9), t1),
        shipment_row("SHP-501", 5, None, datetime(2026, 3, 1, 15), t1),
        shipment_row("SHP-201", 2, None, datetime(2026, 3, 1, 16), t1),
    ])
    # a TMS correction: the day's extract re-delivered under the same object key, SHP-501's freight
    # corrected with the same updated_at (the source's ordering ties: the later delivery wins)
    corrected = list(shipment_row("SHP-501", 5, datetime(2026, 3, 3, 9), datetime(2026, 3, 3, 9), t2))
    corrected[SHIPMENT_COLUMNS.index("freight_cost")] = "15.00"
    assert corrected[SHIPMENT_COLUMNS.index("_source_key")] == shipment_row(
        "SHP-501", 5, None, datetime(2026, 3, 1, 15), t1)[SHIPMENT_COLUMNS.index("_source_key")]
    insert_rows(settings, "raw_tms.shipments", SHIPMENT_COLUMNS, [tuple(corrected)])
    insert_rows(settings, "raw_azureware.inventory_balances", INVENTORY_COLUMNS, [
        # out of order: an older change of the current winner lands after it, and must lose to it
        inventory_row(1001, 40, datetime(2026, 3, 1, 8), t1),
        # late: a product's first balance, from yesterday
        inventory_row(1004, 7, day1, t1, op="I"),
    ])
    # ... and two sets of rows stamped BEFORE the mark although the first build did not see them (a
    # hand-written repair; the loaders cannot stamp so). Order 3 ships in rows stamped within the raised
    # lookback (5 min before the mark), order 6 in rows stamped beyond it (20 min): neither key has
    # another raw row loaded inside the window (a key is re-resolved when ANY of its raw rows was loaded
    # after the mark minus the lookback).
    insert_rows(settings, "raw_azureware.orders", ORDER_COLUMNS, [
        order_row(3, "SHIPPED", day2, WITHIN_LOOKBACK, shipped=day2),
        order_row(6, "SHIPPED", day2, BEYOND_LOOKBACK, shipped=day2),
    ])
    insert_rows(settings, "raw_azureware.order_lines", LINE_COLUMNS, [
        line_row(31, 3, 2, day2, WITHIN_LOOKBACK, op="U"),
        line_row(61, 6, 2, day2, BEYOND_LOOKBACK, op="U"),
    ])
    insert_rows(settings, "raw_azureware.inventory_balances", INVENTORY_COLUMNS, [
        inventory_row(1002, 25, day2, WITHIN_LOOKBACK), inventory_row(1003, 35, day2, BEYOND_LOOKBACK),
    ])
    run_dbt(["build", *SELECT], settings, target_path=target, capture=True, env=env)
    incremental = _facts(settings)
    run_dbt(["build", *SELECT, "--full-refresh"], settings, target_path=target, capture=True, env=env)
    full = _facts(settings)

    # the full refresh resolves every delivery as CDC and the corrections promise
    orders_full = {r[0]: r for r in full["fct_orders"]}
    assert sorted(orders_full) == [1, 2, 3, 5, 6, 7, 8], "deleted order 4 gone, order 7 arrived"
    assert {k: v[1] for k, v in orders_full.items()} == {
        1: "SHIPPED",  # an older change landing later does not win
        2: "SHIPPED", 3: "SHIPPED", 5: "SHIPPED", 6: "SHIPPED", 7: "SHIPPED",
        8: "SHIPPED",  # the newest change sequence wins, not the file's or the batches' order
    }
    assert orders_full[5][3] is not None, "the delivered shipment sets the delivered date"
    assert [r[0] for r in full["fct_order_lines"]] == [11, 21, 31, 51, 61, 71, 81]
    shipments_full = {r[0]: r for r in full["fct_shipments"]}
    assert sorted(shipments_full) == ["SHP-201", "SHP-501"]
    assert str(shipments_full["SHP-501"][3]) == "15.00", "the re-delivered correction wins"

    # the incremental run differs from it exactly on the orders whose only new batch it cannot see
    orders_inc = {r[0]: r for r in incremental["fct_orders"]}
    assert sorted(orders_inc) == sorted(orders_full)
    differing = sorted(k for k in orders_full if orders_inc[k] != orders_full[k])
    assert differing == missed_orders
    assert all(orders_inc[k][1] == "PACKED" for k in missed_orders), "a missed order keeps its old version"
    lines_inc = {r[0]: r for r in incremental["fct_order_lines"]}
    lines_full = {r[0]: r for r in full["fct_order_lines"]}
    assert sorted(lines_inc) == sorted(lines_full)
    assert sorted(lines_full[k][1] for k in lines_full if lines_inc[k] != lines_full[k]) == missed_orders
    assert incremental["fct_shipments"] == full["fct_shipments"]
    stock_full = {r[0]: r for r in full["stg_azureware__inventory_balances"]}
    stock_inc = {r[0]: r for r in incremental["stg_azureware__inventory_balances"]}
    assert {k: v[2] for k, v in stock_full.items()} == {1001: 50, 1002: 25, 1003: 35, 1004: 7}
    assert sorted(stock_inc) == sorted(stock_full)
    assert sorted(k for k in stock_full if stock_inc[k] != stock_full[k]) == missed_products

    # a lookback that is not a whole number of minutes stops the incremental run instead of being read as 0
    proc = run_dbt(["run", "--select", "stg_azureware__orders"], settings, target_path=target, capture=True,
                   check=False, env={"UNIFY_INCREMENTAL_LOOKBACK_MINUTES": "3h"})
    assert proc.returncode != 0
    assert "must be a whole number of minutes, not '3h'" in proc.stdout
