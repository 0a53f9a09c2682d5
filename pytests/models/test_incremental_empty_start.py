"""An incremental model first built while its source was empty picks its rows up when they come.

On a first deployment the 10-minute cycle runs before the TMS's first daily extract (and DMS creates a
table's folder only once the table has rows), so the incremental TMS staging model and fct_shipments are
first built empty. The next build must then read every raw row loaded since: an empty target has no
high-water mark, and a cutoff of `max(last_loaded_at) - lookback` over no rows is NULL, which selected
nothing, for ever (only a --full-refresh recovered). Hand-built raw rows, as in test_incremental.py.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from raw_rows import ORDER_COLUMNS, SHIPMENT_COLUMNS, insert_rows, order_row, shipment_row
from support import query
from unify.dbt_runner import run_dbt

SELECT = ["--select", "+fct_orders +fct_shipments", "--resource-type", "model", "--resource-type", "seed"]


def _count(settings, relation: str) -> int:
    return query(settings, f"select count(*) from {relation}")[0][0]


def _shipments(settings) -> list[tuple]:
    return query(settings, "select shipment_id, order_id, delivered_at, freight_cost from "
                           "analytics_marts.fct_shipments order by shipment_id")


def test_models_built_on_an_empty_source_pick_up_its_first_rows(raw_database, tmp_path: Path):
    settings = raw_database
    target = tmp_path / "target"
    shipped = datetime(2026, 3, 1, 14)
    first_load = datetime(2026, 3, 1, 15)
    insert_rows(settings, "raw_azureware.orders", ORDER_COLUMNS,
                [order_row(n, "SHIPPED", shipped, first_load, op="I", shipped=shipped) for n in (1, 2)])
    # the first cycle: orders only, the TMS has not delivered yet
    run_dbt(["build", *SELECT], settings, target_path=target, capture=True)
    assert _count(settings, "analytics_marts.fct_orders") == 2
    assert _count(settings, "analytics_staging.stg_tms__shipments") == 0

    # the TMS's first extract lands the next day; two incremental builds later (the second with nothing new)
    extract = datetime(2026, 3, 2, 2, 0)
    delivered = datetime(2026, 3, 2, 9)
    insert_rows(settings, "raw_tms.shipments", SHIPMENT_COLUMNS,
                [shipment_row(f"SHP-{n}", n, delivered, delivered, extract) for n in (1, 2)])
    for _ in range(2):
        run_dbt(["build", *SELECT], settings, target_path=target, capture=True)
        assert _count(settings, "analytics_staging.stg_tms__shipments") == 2
        incremental = _shipments(settings)
        assert [row[0] for row in incremental] == ["SHP-1", "SHP-2"]
    run_dbt(["build", *SELECT, "--full-refresh"], settings, target_path=target, capture=True)
    assert _shipments(settings) == incremental
