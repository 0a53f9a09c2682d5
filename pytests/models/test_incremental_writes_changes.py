"""An incremental run writes the rows that changed, not every row its lookback re-reads.

The lookback (10 minutes) re-reads the whole batch at the high-water mark; a TMS extract is one batch
of a day's rows, so every 10-minute cycle re-resolved and rewrote a day of shipments and tracking events
(delete + insert, with their indexes) that had not changed: most of the frequent cycle's cost at the
bench's large scale. unify.select_changed_rows keeps the rows equal to the target's, column by column
(NULL equal to NULL). Proved here with PostgreSQL's row versions (`xmin` changes when a row is
rewritten) on hand-built raw rows: only the changed shipment is written again, in staging and in the
mart, and the tables equal a full refresh.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from raw_rows import ORDER_COLUMNS, SHIPMENT_COLUMNS, insert_rows, order_row, shipment_row
from support import query
from unify.dbt_runner import run_dbt

SELECT = ["--select", "+fct_shipments", "--resource-type", "model", "--resource-type", "seed"]
TABLES = ("analytics_staging.stg_tms__shipments", "analytics_marts.fct_shipments")


def _versions(settings, table: str) -> dict[str, str]:
    """shipment_id -> the row's physical version (changes whenever the row is written again)."""
    return dict(query(settings, f"select shipment_id, xmin::text from {table}"))


def _contents(settings, table: str) -> list[tuple]:
    return query(settings, f"select * from {table} order by shipment_id")


def test_a_run_rewrites_only_the_rows_that_changed(raw_database, tmp_path: Path):
    settings = raw_database
    target = tmp_path / "target"
    shipped = datetime(2026, 3, 1, 14)
    loaded = datetime(2026, 3, 1, 15)
    insert_rows(settings, "raw_azureware.orders", ORDER_COLUMNS,
                [order_row(n, "SHIPPED", shipped, loaded, op="I", shipped=shipped) for n in (1, 2, 3)])
    extract = datetime(2026, 3, 2, 2, 0)  # the day's extract: one batch, the high-water mark
    insert_rows(settings, "raw_tms.shipments", SHIPMENT_COLUMNS, [
        shipment_row("SHP-1", 1, datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 9), extract),
        shipment_row("SHP-2", 2, None, datetime(2026, 3, 1, 20), extract),
        shipment_row("SHP-3", 3, None, datetime(2026, 3, 1, 21), extract),  # NULLs compare equal
    ])
    run_dbt(["build", *SELECT], settings, target_path=target, capture=True)
    before = {table: _versions(settings, table) for table in TABLES}
    assert all(set(versions) == {"SHP-1", "SHP-2", "SHP-3"} for versions in before.values())

    # five minutes later a correction of SHP-2 lands: the next run's cutoff (its mark minus 10 minutes)
    # re-reads the whole extract, and writes SHP-2 only
    insert_rows(settings, "raw_tms.shipments", SHIPMENT_COLUMNS, [
        shipment_row("SHP-2", 2, datetime(2026, 3, 2, 10), datetime(2026, 3, 2, 10), extract + timedelta(minutes=5))])
    run_dbt(["build", *SELECT], settings, target_path=target, capture=True,
            env={"UNIFY_INCREMENTAL_LOOKBACK_MINUTES": "10"})
    for table in TABLES:
        after = _versions(settings, table)
        assert set(after) == {"SHP-1", "SHP-2", "SHP-3"}, table
        assert after["SHP-2"] != before[table]["SHP-2"], f"{table}: the corrected shipment was not written"
        assert {k: after[k] for k in ("SHP-1", "SHP-3")} == {k: before[table][k] for k in ("SHP-1", "SHP-3")}, \
            f"{table}: unchanged rows re-read by the lookback were written again"
    assert query(settings, "select delivered_at from analytics_marts.fct_shipments where shipment_id = 'SHP-2'") \
        == [(datetime(2026, 3, 2, 10),)]

    incremental = {table: _contents(settings, table) for table in TABLES}
    run_dbt(["build", *SELECT, "--full-refresh"], settings, target_path=target, capture=True)
    assert {table: _contents(settings, table) for table in TABLES} == incremental
