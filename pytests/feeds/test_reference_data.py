"""Reference data by business codes: a warehouse, client or currency (or a month's rate) with no
reference row fails a test in the build; the amounts that need it turn unknown (null) instead of being
priced at zero or at another row's rate.

Each case breaks one reference in a database built from the hand-written landing zone, rebuilds the
models with `dbt run` and runs the tests with `dbt test` (in `dbt build` a failing test skips the models
after it, which would hide the next tests' verdicts), and checks which tests fail, with how many rows.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import support
from feeds_support import DBT_ENV, landing_copy, load_and_build
from unify.dbt_runner import run_dbt


def _dbt(settings, target: Path, *args: str) -> dict[str, dict]:
    run_dbt(list(args), settings, target_path=target, capture=True, check=False, env=DBT_ENV)
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r for r in results}


def _failures(results: dict[str, dict]) -> dict[str, int]:
    return {name: r["failures"] for name, r in results.items() if r["status"] in ("fail", "error")}


# Checks of the money itself (the mart's arithmetic, its reconciliation with the facts) fail too while a
# month's money is unknown: allowed alongside the reference tests, never instead of them.
MONEY_CHECKS = ("expression_is_true_fct_client_profitability_monthly_", "assert_profitability_totals_match_facts")


def _assert_failed(results: dict[str, dict], expected: dict[str, int]) -> None:
    failed = _failures(results)
    assert {name: failed.get(name) for name in expected} == expected, failed
    assert all(name.startswith(MONEY_CHECKS) for name in set(failed) - set(expected)), failed


def _money(settings) -> list[tuple]:
    return support.query(settings, "select client_id, revenue_usd, cost_usd from "
                                   "analytics_marts.fct_client_profitability_monthly order by client_id")


def test_a_missing_warehouse_rate_currency_rate_region_or_client_code_fails_its_test(fresh_database, tmp_path):
    settings, target = fresh_database, tmp_path / "target"
    built = load_and_build(settings, landing_copy(tmp_path / "landing"), target)
    assert built.build_exit == 0, built.build_stdout[-3000:]
    assert _money(settings) == [(501, Decimal("70.16"), Decimal("59.52")), (502, Decimal("76.50"), Decimal("71.40"))]

    # 1. LHR1 (the WMS's warehouse 101) has no cost rate: its 4 orders' warehouse cost is unknown
    support.execute(settings, "delete from analytics_seeds.warehouse_cost_rates where warehouse_code = 'LHR1'")
    _dbt(settings, target, "run")
    _assert_failed(_dbt(settings, target, "test", "--select", "dim_warehouse fct_client_profitability_monthly"), {
        "not_null_dim_warehouse_cost_per_order_usd": 1,
        "not_null_dim_warehouse_cost_per_unit_usd": 1,
        "profitability_every_order_has_a_warehouse_cost_rate": 1,  # client 501's November
    })
    # the revenue is still known; the cost is not, nor the margin
    assert _money(settings) == [(501, Decimal("70.16"), None), (502, Decimal("76.50"), Decimal("71.40"))]

    # 2. no GBP rate for 2026-11: client 501's fees (contract in GBP) and its GBP freight are unknown
    _dbt(settings, target, "seed")
    support.execute(settings, "delete from analytics_seeds.currency_rates_monthly "
                              "where currency_code = 'GBP' and month_start_date = date '2026-11-01'")
    _dbt(settings, target, "run", "--full-refresh")  # the incremental facts store USD amounts
    _assert_failed(_dbt(settings, target, "test", "--select", "fct_shipments fct_client_profitability_monthly"), {
        "not_null_fct_shipments_usd_per_unit": 5,  # SHP-000101 .. SHP-000105
        "profitability_every_order_has_its_fee_currency_rate": 1,
        "profitability_every_shipment_has_its_freight_currency_rate": 1,
    })
    assert _money(settings) == [(501, None, None), (502, Decimal("76.50"), Decimal("71.40"))]

    # 3. a grant for a client code the WMS does not know
    _dbt(settings, target, "seed")
    support.execute(settings, "insert into analytics_seeds.access_team_grants values "
                              "('ghost@glc.example', 'analyst', 'NOPE-99')")
    _assert_failed(_dbt(settings, target, "test", "--select", "access_team_grants"), {
        "relationships_access_team_grants_client_code__client_code__ref_stg_azureware__clients_": 1})

    # 4. a warehouse country with no region row (US: EWR1)
    _dbt(settings, target, "seed")
    support.execute(settings, "delete from analytics_seeds.country_regions where country_code = 'US'")
    _dbt(settings, target, "run", "--select", "dim_warehouse")
    _assert_failed(_dbt(settings, target, "test", "--select", "dim_warehouse"), {
        "not_null_dim_warehouse_region": 1, "not_null_dim_warehouse_local_currency_code": 1})


def test_a_client_without_its_salesforce_account_fails_its_tests(fresh_database, tmp_path):
    # Zephyr's account carries a mistyped client code: the WMS client ZEPHYR-02 has no account, so no
    # contract prices its orders (they would earn no fees) and no account manager sees it
    landing = landing_copy(tmp_path / "landing")
    account = next((landing / "appflow/salesforce/salesforce-account").rglob("part-r-00000"))
    account.write_text(account.read_text().replace('"WMS_Client_Code__c":"ZEPHYR-02"',
                                                   '"WMS_Client_Code__c":"ZEPHYR-2"'))
    settings, target = fresh_database, tmp_path / "target"
    built = load_and_build(settings, landing, target)
    assert built.load_exit == 0, built.load_stdout[-3000:]
    assert built.build_exit != 0
    _dbt(settings, target, "run")
    _assert_failed(_dbt(settings, target, "test", "--select", "dim_client fct_client_profitability_monthly"), {
        "every_client_has_a_salesforce_account": 1,  # client 502
        "profitability_every_shipped_order_has_a_contract": 1,  # 502's November
    })
