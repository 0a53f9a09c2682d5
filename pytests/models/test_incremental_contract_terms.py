"""int_orders_contract_in_force is incremental: a run recomputes the orders fct_orders recomputed, all of
them when the contracts changed, and removes orders that are no longer shipped (cancelled, deleted in
the WMS). Proved on hand-built raw rows with PostgreSQL's row versions (`xmin` changes when a row is
written again): untouched orders keep their rows, and the table always equals a full refresh."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from raw_rows import (ACCOUNT_COLUMNS, CLIENT_COLUMNS, CONTRACT_COLUMNS, ORDER_COLUMNS, account_row, client_row,
                      contract_row, insert_rows, order_row)
from support import query
from unify.dbt_runner import run_dbt

SELECT = ["--select", "+int_orders_contract_in_force", "--resource-type", "model", "--resource-type", "seed"]
TABLE = "analytics_intermediate.int_orders_contract_in_force"
ACCOUNT, CONTRACT = "001000000000001AAA", "800000000000001AAA"


def _rows(settings) -> dict[int, tuple]:
    """order_id -> (row version, OTIF target, contract version key, fingerprint)"""
    return {order_id: tuple(rest) for order_id, *rest in query(
        settings, f"select order_id, xmin::text, otif_target_pct, contract_version_key, contracts_fingerprint "
                  f"from {TABLE}")}


def _assert_equals_a_full_refresh(settings, target: Path) -> None:
    contents = f"select * from {TABLE} order by order_id"
    incremental = query(settings, contents)
    run_dbt(["build", *SELECT, "--full-refresh"], settings, target_path=target, capture=True)
    assert query(settings, contents) == incremental


def test_a_run_recomputes_changed_orders_and_everything_when_contracts_change(fresh_raw_database, tmp_path: Path):
    settings, target = fresh_raw_database, tmp_path / "target"
    first = datetime(2026, 3, 1, 16)
    shipped = datetime(2026, 3, 1, 14)
    insert_rows(settings, "raw_azureware.clients", CLIENT_COLUMNS, [client_row(1, "CL1", datetime(2026, 1, 1), first)])
    insert_rows(settings, "raw_salesforce.accounts", ACCOUNT_COLUMNS,
                [account_row(ACCOUNT, "CL1", datetime(2026, 1, 1), first)])
    insert_rows(settings, "raw_salesforce.contracts", CONTRACT_COLUMNS,
                [contract_row(CONTRACT, ACCOUNT, datetime(2026, 1, 1), first, "95.00")])
    insert_rows(settings, "raw_azureware.orders", ORDER_COLUMNS,
                [order_row(n, "SHIPPED", shipped, first, op="I", shipped=shipped) for n in (1, 2, 3, 4)]
                + [order_row(5, "PICKING", shipped, first, op="I")])
    run_dbt(["build", *SELECT], settings, target_path=target, capture=True)
    built = _rows(settings)
    assert set(built) == {1, 2, 3, 4}  # shipped orders only
    assert {(target_pct, fingerprint) for _, target_pct, _, fingerprint in built.values()} \
        == {(95, built[1][3])}

    # the WMS cancels order 2, deletes order 3 and ships order 5: only those are written
    second = first + timedelta(hours=1)
    later = shipped + timedelta(hours=1)
    insert_rows(settings, "raw_azureware.orders", ORDER_COLUMNS, [
        order_row(2, "CANCELLED", later, second, shipped=shipped),
        order_row(3, "SHIPPED", later, second, op="D", shipped=shipped),
        order_row(5, "SHIPPED", later, second, shipped=later),
    ])
    run_dbt(["build", *SELECT], settings, target_path=target, capture=True)
    after = _rows(settings)
    assert set(after) == {1, 4, 5}
    assert {n: after[n][0] for n in (1, 4)} == {n: built[n][0] for n in (1, 4)}, "untouched orders were rewritten"
    assert after[5][1:] == built[1][1:]  # the new one has the same contract, computed with the same contracts
    _assert_equals_a_full_refresh(settings, target)

    # a new contract version (a new OTIF target since February) reaches every order, also unchanged ones
    third = second + timedelta(hours=1)
    insert_rows(settings, "raw_salesforce.contracts", CONTRACT_COLUMNS,
                [contract_row(CONTRACT, ACCOUNT, datetime(2026, 2, 1), third, "97.50")])
    before = _rows(settings)
    run_dbt(["build", *SELECT], settings, target_path=target, capture=True)
    changed = _rows(settings)
    assert set(changed) == {1, 4, 5}
    assert all(changed[n][0] != before[n][0] for n in changed), "an order kept terms computed with old contracts"
    assert {(target_pct, key != before[1][2], fingerprint != before[1][3])
            for _, target_pct, key, fingerprint in changed.values()} == {(97.5, True, True)}
    _assert_equals_a_full_refresh(settings, target)
