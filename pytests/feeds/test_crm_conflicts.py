"""Salesforce data that makes a number a guess fails (or warns) in the build instead of picking silently.

Each case adds hand-written AppFlow records to a copy of the hand-written landing zone (landing/, where
client 502 ZEPHYR-02 is account FIX002 with contract 00009002: USD, 4.00 per order, OTIF target 97%):

- a second Activated contract of Zephyr covering the same ship dates: which one prices an order would be
  the latest start date's guess (revenue 105.00 instead of 76.50, target 90 instead of 97), so the test
  orders_have_at_most_one_contract_in_force fails;
- a second live account carrying Zephyr's WMS client code, with a contract of its own: the client stays
  with its oldest account (int_client_accounts), the other account's contract prices nothing (dim_contract
  follows the same rule, so profitability and dim_client cannot disagree), and
  one_live_account_per_wms_client_code warns;
- a contract in CAD, a currency the rates seed converts: no test fails (currencies are checked against
  the seed, not a hard-coded list); one in SEK, which the seed does not know, fails that check.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

import support
from feeds_support import DBT_ENV, landing_copy, load_and_build
from unify.dbt_runner import run_dbt

FLOW = "appflow/salesforce/salesforce-contract/0d7c6a55-4e2b-4f1a-9c3d-8b1e2f3a4c66"
ACCOUNT_FLOW = "appflow/salesforce/salesforce-account/5e8f9a10-2b3c-4d5e-8f60-718293a4b5c6"
ZEPHYR_CONTRACT = ('{"Id":"800000000000FIX003","AccountId":"%(account)s","ContractNumber":"00009003",'
                   '"Status":"Activated","StartDate":"2026-10-15","EndDate":"2027-10-14",'
                   '"Handling_Fee_Per_Order__c":6,"Pick_Fee_Per_Unit__c":0.5,"Freight_Markup_Pct__c":5,'
                   '"OTIF_Target_Pct__c":90,"CurrencyIsoCode":"%(currency)s","IsDeleted":false,'
                   '"CreatedDate":"2026-10-10T08:00:00.000Z","LastModifiedDate":"2026-10-10T08:00:00.000Z",'
                   '"SystemModstamp":"2026-10-10T08:00:00.000Z"}\n')


def _add(landing: Path, flow: str, text: str) -> None:
    part = landing / flow / "part-r-00000"
    part.parent.mkdir(parents=True)
    part.write_text(text)


def _build(settings, landing: Path, target: Path) -> dict[str, dict]:
    built = load_and_build(settings, landing, target)
    assert built.load_exit == 0, built.load_stdout[-3000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r for r in results}


def _not_passing(results: dict[str, dict]) -> dict[str, str]:
    return {name: r["status"] for name, r in results.items() if r["status"] not in ("pass", "success", "no-op")}


def _zephyr(settings) -> list[tuple]:
    return support.query(settings, "select revenue_usd from analytics_marts.fct_client_profitability_monthly "
                                   "where client_id = 502")


def test_overlapping_activated_contracts_fail_the_build(fresh_database, tmp_path):
    landing = landing_copy(tmp_path / "landing")
    _add(landing, FLOW, ZEPHYR_CONTRACT % {"account": "001000000000FIX002", "currency": "USD"})
    results = _build(fresh_database, landing, tmp_path / "target")
    failed = _not_passing(results)
    assert failed.get("orders_have_at_most_one_contract_in_force") == "fail", failed
    # every order of Zephyr shipped from the second contract's start on (both cover it), and no other
    overlapping = support.query(fresh_database, "select count(*) from analytics_marts.fct_orders where client_id = 502 "
                                "and shipped_at >= timestamp '2026-10-15' and not is_cancelled")[0][0]
    assert overlapping > 0
    assert results["orders_have_at_most_one_contract_in_force"]["failures"] == overlapping


def test_a_second_account_with_the_same_client_code_warns_and_prices_nothing(fresh_database, tmp_path):
    landing = landing_copy(tmp_path / "landing")
    _add(landing, ACCOUNT_FLOW,
         '{"Id":"001000000000FIX004","IsDeleted":false,"Name":"Zephyr Cycles (duplicate)","CurrencyIsoCode":"USD",'
         '"Type":"Customer","Industry":"Sporting Goods","BillingCountry":"United States",'
         '"OwnerId":"005000000000FIX001","WMS_Client_Code__c":"ZEPHYR-02","Tier__c":"Gold",'
         '"CreatedDate":"2026-03-01T10:00:00.000Z","LastModifiedDate":"2026-03-01T10:00:00.000Z",'
         '"SystemModstamp":"2026-03-01T10:00:00.000Z"}\n')
    _add(landing, FLOW, ZEPHYR_CONTRACT % {"account": "001000000000FIX004", "currency": "USD"})
    results = _build(fresh_database, landing, tmp_path / "target")
    assert _not_passing(results) == {"one_live_account_per_wms_client_code": "warn"}
    assert support.query(fresh_database, "select account_id, tier from analytics_marts.dim_client "
                                         "where client_id = 502 and is_current") == [("001000000000FIX002", "Silver")]
    assert support.query(fresh_database, "select client_id from analytics_marts.dim_contract "
                                         "where contract_id = '800000000000FIX003'") == [(None,)]
    assert _zephyr(fresh_database) == [(Decimal("76.50"),)]  # as without the duplicate: contract 00009002


@pytest.mark.parametrize("currency, expected", [("CAD", set()), ("SEK", {"fail"})])
def test_contract_currencies_are_checked_against_the_rates_seed(fresh_database, tmp_path, currency, expected):
    landing = landing_copy(tmp_path / "landing")
    contract = next((landing / "appflow/salesforce/salesforce-contract").rglob("part-r-00001"))
    contract.write_text(contract.read_text().replace('"CurrencyIsoCode":"USD"', f'"CurrencyIsoCode":"{currency}"'))
    results = _build(fresh_database, landing, tmp_path / "target")
    currency_checks = {status for name, status in _not_passing(results).items()
                       if name.startswith("relationships_dim_contract_currency_code")}
    assert currency_checks == expected, _not_passing(results)
