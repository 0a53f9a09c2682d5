"""rpt_operations_health_daily is incremental: a run rewrites the rows from the earliest day the changed
orders counted on before the change or count on now (or the previous as-of day), brings the earlier
rows' month target and names up to date in place, and rebuilds every row when its per-order state
cannot vouch for it (a new contract version, a warehouse that appears with earlier orders). Proved on
hand-built raw rows with PostgreSQL's row versions (`xmin` changes when a row is written again): rows
before that day keep theirs, and the table always equals a full refresh."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from raw_rows import (ACCOUNT_COLUMNS, CLIENT_COLUMNS, CONTRACT_COLUMNS, LINE_COLUMNS, ORDER_COLUMNS, WAREHOUSE_COLUMNS,
                      account_row, client_row, contract_row, insert_rows, line_row, order_row, warehouse_row)
from support import query
from unify.dbt_runner import run_dbt

SELECT = ["--select", "+rpt_operations_health_daily", "--resource-type", "model", "--resource-type", "seed"]
TABLE = "analytics_reporting.rpt_operations_health_daily"
ACCOUNT, CONTRACT = "001000000000001AAA", "800000000000001AAA"


def _build(settings, target: Path, as_of: str, *extra: str) -> None:
    run_dbt(["build", *SELECT, *extra], settings, target_path=target, capture=True,
            env={"UNIFY_AS_OF_AT": as_of, "UNIFY_INCREMENTAL_LOOKBACK_MINUTES": "0"})


def _versions(settings) -> dict[tuple, str]:
    """(warehouse_id, activity_date) -> row version"""
    return {(warehouse_id, day): version for warehouse_id, day, version in query(
        settings, f"select warehouse_id, activity_date, xmin::text from {TABLE}")}


def _row(settings, warehouse_id: int, day: date, columns: str) -> tuple:
    return query(settings, f"select {columns} from {TABLE} where warehouse_id = %s and activity_date = %s",
                 (warehouse_id, day))[0]


def _assert_equals_a_full_refresh(settings, target: Path, as_of: str) -> None:
    contents = f"select * from {TABLE} order by client_id, warehouse_id, activity_date"
    incremental = query(settings, contents)
    run_dbt(["build", "--select", "rpt_operations_health_daily", "--resource-type", "model", "--full-refresh"],
            settings, target_path=target, capture=True,
            env={"UNIFY_AS_OF_AT": as_of, "UNIFY_INCREMENTAL_LOOKBACK_MINUTES": "0"})
    assert query(settings, contents) == incremental


def test_a_run_rewrites_the_days_changed_orders_touch_and_everything_when_it_cannot_vouch(
        fresh_raw_database, tmp_path: Path):
    settings, target = fresh_raw_database, tmp_path / "target"
    first = datetime(2026, 3, 10, 1)
    day = lambda d, h=8: datetime(2026, 3, d, h)  # noqa: E731
    insert_rows(settings, "raw_azureware.warehouses", WAREHOUSE_COLUMNS,
                [warehouse_row(1, "LHR1", day(1, 0), first), warehouse_row(2, "MAN1", day(1, 0), first)])
    insert_rows(settings, "raw_azureware.clients", CLIENT_COLUMNS, [client_row(1, "CL1", datetime(2026, 1, 1), first)])
    insert_rows(settings, "raw_salesforce.accounts", ACCOUNT_COLUMNS,
                [account_row(ACCOUNT, "CL1", datetime(2026, 1, 1), first)])
    # the contract (OTIF target 95%) starts on 8 March: March's first shipments have none
    insert_rows(settings, "raw_salesforce.contracts", CONTRACT_COLUMNS,
                [contract_row(CONTRACT, ACCOUNT, datetime(2026, 1, 1), first, "95.00", start="2026-03-08")])
    insert_rows(settings, "raw_azureware.orders", ORDER_COLUMNS, [
        order_row(1, "SHIPPED", day(2), first, op="I", created=day(1), shipped=day(2, 10), promised="2026-03-03"),
        order_row(2, "SHIPPED", day(3), first, op="I", created=day(2), shipped=day(3, 10), promised="2026-03-05"),
        order_row(3, "PICKING", day(3), first, op="I", created=day(3), promised="2026-03-06"),  # breaches 4 March
        order_row(4, "PICKING", day(6), first, op="I", created=day(6), promised="2026-03-12"),
        order_row(5, "PICKING", day(7), first, op="I", created=day(7), promised="2026-03-12", warehouse_id=2),
        order_row(6, "PICKING", day(4), first, op="I", created=day(4), promised="2026-03-13"),
        order_row(7, "PICKING", day(5), first, op="I", created=day(5), promised="2026-03-13", warehouse_id=3),
    ])
    # order 1 ships two lines of 2 units
    insert_rows(settings, "raw_azureware.order_lines", LINE_COLUMNS,
                [line_row(101, 1, 2, day(2), first), line_row(102, 1, 2, day(2), first)])
    _build(settings, target, "2026-03-10 00:00:00")
    built = _versions(settings)
    # warehouse 3 is not in dim_warehouse yet: a full build's inner join leaves its orders out
    assert {warehouse_id for warehouse_id, _ in built} == {1, 2}
    assert _row(settings, 1, date(2026, 3, 3), "due_orders, due_orders_with_target") == (1, 0)  # no contract yet

    # Order 4 ships on 9 March under the contract (March's target becomes 95%), order 5 is deleted in the
    # WMS and order 6's creation day is corrected from the 4th to the 8th: the earliest day any of them
    # counted on is the 4th (order 6's old day, known only from the state), so the rows from the 4th are
    # rewritten, the 3rd's due order gets March's target in place and the 1st and 2nd are not written.
    second = datetime(2026, 3, 11, 1)
    insert_rows(settings, "raw_azureware.orders", ORDER_COLUMNS, [
        order_row(4, "SHIPPED", day(9, 10), second, created=day(6), shipped=day(9, 10), promised="2026-03-12"),
        order_row(5, "PICKING", day(10), second, op="D", created=day(7), promised="2026-03-12", warehouse_id=2),
        order_row(6, "PICKING", day(10), second, created=day(8), promised="2026-03-13"),
        order_row(8, "PICKING", day(10), second, op="I", created=day(10), promised="2026-03-14"),  # ship by 11th 14:00
    ])
    _build(settings, target, "2026-03-11 12:00:00")
    after = _versions(settings)
    assert {key for key in after if after[key] == built.get(key)} == {(1, date(2026, 3, 1)), (1, date(2026, 3, 2))}
    assert _row(settings, 1, date(2026, 3, 3), "due_orders, due_orders_with_target, otif_target_orders") \
        == (1, 1, Decimal("0.9500"))
    assert _row(settings, 1, date(2026, 3, 4), "orders_created") == (0,)  # order 6 left the 4th
    assert max(day for _, day in after) == date(2026, 3, 11)
    _assert_equals_a_full_refresh(settings, target, "2026-03-11 12:00:00")

    # dim_warehouse gains warehouse 3, whose order 7 was created on the 5th: every row is rebuilt
    third = second + timedelta(hours=1)
    insert_rows(settings, "raw_azureware.warehouses", WAREHOUSE_COLUMNS, [warehouse_row(3, "BHX1", day(1, 0), third)])
    _build(settings, target, "2026-03-11 12:00:00")
    assert min(day for warehouse_id, day in _versions(settings) if warehouse_id == 3) == date(2026, 3, 5)
    _assert_equals_a_full_refresh(settings, target, "2026-03-11 12:00:00")

    # the client is renamed: its name changes on every row, nothing else is recomputed
    fourth = third + timedelta(hours=1)
    insert_rows(settings, "raw_azureware.clients", CLIENT_COLUMNS,
                [client_row(1, "CL1", day(11, 2), fourth, name="Renamed Client", op="U")])
    _build(settings, target, "2026-03-11 12:00:00")
    assert {name for name, in query(settings, f"select distinct client_name from {TABLE}")} == {"Renamed Client"}
    _assert_equals_a_full_refresh(settings, target, "2026-03-11 12:00:00")

    # a new contract version (target 97.5%, starting 1 March, in force since 1 March noon) rewrites every row
    fifth = fourth + timedelta(hours=1)
    before = _versions(settings)
    insert_rows(settings, "raw_salesforce.contracts", CONTRACT_COLUMNS,
                [contract_row(CONTRACT, ACCOUNT, day(1, 12), fifth, "97.50", start="2026-03-01")])
    _build(settings, target, "2026-03-11 12:00:00")
    changed = _versions(settings)
    assert set(changed) == set(before) and all(changed[key] != before[key] for key in changed)
    assert _row(settings, 1, date(2026, 3, 3), "otif_target_orders") == (Decimal("0.9750"),)
    _assert_equals_a_full_refresh(settings, target, "2026-03-11 12:00:00")

    # nothing new, the as-of time moves to the next day: order 8's deadline (11 March 14:00) has passed, so
    # the previous as-of day's row changes; the rows before it are not written
    before = _versions(settings)
    _build(settings, target, "2026-03-12 12:00:00")
    moved = _versions(settings)
    assert {key for key in moved if moved[key] != before.get(key)} \
        == {(warehouse_id, day) for warehouse_id in (1, 3) for day in (date(2026, 3, 11), date(2026, 3, 12))}
    assert _row(settings, 1, date(2026, 3, 11), "sla_breaches") == (1,)
    _assert_equals_a_full_refresh(settings, target, "2026-03-12 12:00:00")

    # the WMS deletes one of order 1's lines: the 2nd's shipped units drop to 2 (the deleted line's load time
    # is the order's change: fct_orders' source_loaded_at counts deleted lines too)
    sixth = fifth + timedelta(hours=1)
    assert _row(settings, 1, date(2026, 3, 2), "units_shipped") == (4,)
    insert_rows(settings, "raw_azureware.order_lines", LINE_COLUMNS, [line_row(102, 1, 2, day(12, 1), sixth, op="D")])
    _build(settings, target, "2026-03-12 12:00:00")
    assert _row(settings, 1, date(2026, 3, 2), "units_shipped") == (2,)
    _assert_equals_a_full_refresh(settings, target, "2026-03-12 12:00:00")
