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

import psycopg2

from unify.dbt_runner import run_dbt

SELECT = ["--select", "+fct_orders +fct_shipments", "--resource-type", "model", "--resource-type", "seed"]
ORDER_COLUMNS = ("op", "dms_commit_ts", "dms_change_seq", "orderid", "ordernumber", "clientid", "warehouseid",
                 "ordertype", "priority", "createdat", "requiredshipby", "promiseddeliverydate", "status",
                 "shippedat", "customername", "destinationaddress", "destinationpostcode", "destinationcountry",
                 "modifiedat", "_source_key", "_source_row", "_batch_id", "_loaded_at")
SHIPMENT_COLUMNS = ("shipment_id", "order_number", "warehouse_code", "carrier_id", "service_level",
                    "tracking_number", "shipped_at", "estimated_delivery_at", "delivered_at", "status", "weight_kg",
                    "freight_cost", "currency", "updated_at", "_source_key", "_source_row", "_batch_id",
                    "_loaded_at")


def _insert(settings, table: str, columns: tuple, rows: list[tuple]) -> None:
    with psycopg2.connect(settings.dsn()) as conn, conn.cursor() as cur:
        cur.executemany(f"insert into {table} ({', '.join(columns)}) values ({', '.join(['%s'] * len(columns))})",
                        rows)
    conn.close()


def _count(settings, relation: str) -> int:
    with psycopg2.connect(settings.dsn()) as conn, conn.cursor() as cur:
        cur.execute(f"select count(*) from {relation}")
        count = cur.fetchone()[0]
    conn.close()
    return count


def _shipments(settings) -> list[tuple]:
    with psycopg2.connect(settings.dsn()) as conn, conn.cursor() as cur:
        cur.execute("select shipment_id, order_id, delivered_at, freight_cost from analytics_marts.fct_shipments "
                    "order by shipment_id")
        rows = cur.fetchall()
    conn.close()
    return rows


def test_models_built_on_an_empty_source_pick_up_its_first_rows(raw_database, tmp_path: Path):
    settings = raw_database
    target = tmp_path / "target"
    shipped = datetime(2026, 3, 1, 14)
    first_load = datetime(2026, 3, 1, 15)
    _insert(settings, "raw_azureware.orders", ORDER_COLUMNS, [
        ("I", shipped, f"2026030114000000{n:019d}", n, f"SO-{n}", 1, 1, "B2C", "STANDARD", datetime(2026, 3, 1, 8),
         datetime(2026, 3, 2, 14), "2026-03-04", "SHIPPED", shipped, "Name", "Street 1", "AB1 2CD", "GB", shipped,
         "dms/azureware/dbo/Orders/20260301-150000000.csv", n, "b-1", first_load)
        for n in (1, 2)])
    # the first cycle: orders only, the TMS has not delivered yet
    run_dbt(["build", *SELECT], settings, target_path=target, capture=True)
    assert _count(settings, "analytics_marts.fct_orders") == 2
    assert _count(settings, "analytics_staging.stg_tms__shipments") == 0

    # the TMS's first extract lands the next day; two incremental builds later (the second with nothing new)
    extract = datetime(2026, 3, 2, 2, 0)
    _insert(settings, "raw_tms.shipments", SHIPMENT_COLUMNS, [
        (f"SHP-{n}", f"SO-{n}", "LHR1", "C1", "NEXT_DAY", f"TRK{n}", shipped, datetime(2026, 3, 2, 12),
         datetime(2026, 3, 2, 9), "DELIVERED", 1.5, "12.34", "GBP", datetime(2026, 3, 2, 9),
         "tms/shipments/dt=2026-03-02/shipments-20260302.csv", n, "b-2", extract)
        for n in (1, 2)])
    for _ in range(2):
        run_dbt(["build", *SELECT], settings, target_path=target, capture=True)
        assert _count(settings, "analytics_staging.stg_tms__shipments") == 2
        incremental = _shipments(settings)
        assert [row[0] for row in incremental] == ["SHP-1", "SHP-2"]
    run_dbt(["build", *SELECT, "--full-refresh"], settings, target_path=target, capture=True)
    assert _shipments(settings) == incremental
