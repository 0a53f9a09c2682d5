"""assert_shipped_orders_reach_the_tms judges whole ship days: just after midnight UTC, the newest day
old enough must not be a sliver of the few orders shipped in its first minutes (their TMS shipments come in
the daily extracts still to land, so a handful without one made the whole test fail, at error severity).
Proved on hand-built raw rows: the same orders pass at 00:30 and fail once their day is judged whole."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from raw_rows import (ORDER_COLUMNS, SHIPMENT_COLUMNS, WAREHOUSE_COLUMNS, insert_rows, order_row, shipment_row,
                      warehouse_row)
from support import query
from unify.dbt_runner import run_dbt

TEST = "assert_shipped_orders_reach_the_tms"


def _failures(settings, target: Path, as_of: str) -> int:
    """Rows the test returns at this as-of time (0: it passes)."""
    run_dbt(["test", "--select", TEST], settings, target_path=target, capture=True, check=False,
            env={"UNIFY_AS_OF_AT": as_of})
    results = json.loads((target / "run_results.json").read_text())["results"]
    (result,) = [r for r in results if r["unique_id"].split(".")[-1] == TEST]
    assert result["status"] in ("pass", "fail"), result
    return int(result["failures"] or 0)


def test_the_newest_ship_day_is_judged_only_when_whole(fresh_raw_database, tmp_path: Path):
    settings, target = fresh_raw_database, tmp_path / "target"
    loaded = datetime(2026, 3, 10, 0, 20)
    insert_rows(settings, "raw_azureware.warehouses", WAREHOUSE_COLUMNS,
                [warehouse_row(1, "LHR1", datetime(2026, 3, 1), loaded)])
    # 6 March: 20 orders shipped, each with its TMS shipment
    shipped_6th = [order_row(n, "SHIPPED", datetime(2026, 3, 6, 12), loaded, op="I",
                             created=datetime(2026, 3, 5, 9), shipped=datetime(2026, 3, 6, 11))
                   for n in range(1, 21)]
    # 7 March: 20 orders, 2 of them shipped in its first ten minutes and not yet in a TMS extract
    shipped_7th = [order_row(n, "SHIPPED", datetime(2026, 3, 7, 15), loaded, op="I",
                             created=datetime(2026, 3, 6, 9),
                             shipped=datetime(2026, 3, 7, 0, 5) if n <= 22 else datetime(2026, 3, 7, 14))
                   for n in range(21, 41)]
    insert_rows(settings, "raw_azureware.orders", ORDER_COLUMNS, shipped_6th + shipped_7th)
    insert_rows(settings, "raw_tms.shipments", SHIPMENT_COLUMNS,
                [shipment_row(f"S{n}", n, None, datetime(2026, 3, 8), loaded) for n in range(1, 41) if n > 22 or n < 21])
    run_dbt(["build", "--select", "+fct_orders", "--resource-type", "model", "--resource-type", "seed"],
            settings, target_path=target, capture=True,
            env={"UNIFY_AS_OF_AT": "2026-03-10 00:30:00", "UNIFY_INCREMENTAL_LOOKBACK_MINUTES": "0"})

    assert query(settings, "select count(*), sum(shipment_count) from analytics_marts.fct_orders") == [(40, 38)]

    # at 00:30 on 10 March the 6th ended over 3 days ago and is judged (every order has its shipment); the
    # 7th has not ended 3 days ago: its first 25 minutes, 2 orders without a shipment yet, are not a day
    assert _failures(settings, target, "2026-03-10 00:30:00") == 0
    # once the 7th is 3 days behind, it is judged whole: 2 of its 20 orders (10% > 5%) have no shipment
    assert _failures(settings, target, "2026-03-11 00:30:00") == 1
    # a day ends at midnight: at 00:00 exactly, 3 days after the 7th ended, it is judged
    assert _failures(settings, target, "2026-03-11 00:00:00") == 1

    # the window's oldest day is whole too: 28 days after 7 March 00:30 the window starts on the 7th, not
    # at 00:30 of it, so its 2 orders shipped at 00:05 are still counted (a bound on the time would drop
    # them and pass)
    assert _failures(settings, target, "2026-04-04 00:30:00") == 1
