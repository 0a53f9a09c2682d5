"""Salesforce data that makes a number a guess fails (or warns) in the build instead of picking silently.

One copy of the hand-written landing zone (landing/: client 502 ZEPHYR-02 is account FIX002 with contract
00009002, USD, 4.00 per order, OTIF target 97%) gets these hand-written AppFlow records, loaded and built
once (each defect reaches different tests):

- a second Activated contract of Zephyr (00009003) covering the same ship dates: which one prices an order
  would be the latest start date's guess (revenue 105.00 instead of 76.50, target 90 instead of 97), so
  orders_have_at_most_one_contract_in_force fails for each order both cover;
- a second live account (FIX004) carrying Zephyr's WMS client code, with a contract of its own
  (00009004): the client stays with its oldest account (int_client_accounts), the other account's
  contract belongs to no client (dim_contract follows the same rule, so profitability and dim_client
  cannot disagree), and one_live_account_per_wms_client_code warns;
- currencies are checked against the rates seed, not a hard-coded list: 00009002 in CAD (which the seed
  converts) passes; 00009004 in SEK (which it does not) is the one row that fails.
"""

from __future__ import annotations

import json

import pytest

import support
from feeds_support import landing_copy, load_and_build, new_database

CONTRACT_FLOW = "appflow/salesforce/salesforce-contract/0d7c6a55-4e2b-4f1a-9c3d-8b1e2f3a4c66"
ACCOUNT_FLOW = "appflow/salesforce/salesforce-account/5e8f9a10-2b3c-4d5e-8f60-718293a4b5c6"
CONTRACT = ('{"Id":"%(id)s","AccountId":"%(account)s","ContractNumber":"%(number)s",'
            '"Status":"Activated","StartDate":"2026-10-15","EndDate":"2027-10-14",'
            '"Handling_Fee_Per_Order__c":6,"Pick_Fee_Per_Unit__c":0.5,"Freight_Markup_Pct__c":5,'
            '"OTIF_Target_Pct__c":90,"CurrencyIsoCode":"%(currency)s","IsDeleted":false,'
            '"CreatedDate":"2026-10-10T08:00:00.000Z","LastModifiedDate":"2026-10-10T08:00:00.000Z",'
            '"SystemModstamp":"2026-10-10T08:00:00.000Z"}\n')
DUPLICATE_ACCOUNT = ('{"Id":"001000000000FIX004","IsDeleted":false,"Name":"Zephyr Cycles (duplicate)",'
                     '"CurrencyIsoCode":"USD","Type":"Customer","Industry":"Sporting Goods",'
                     '"BillingCountry":"United States","OwnerId":"005000000000FIX001",'
                     '"WMS_Client_Code__c":"ZEPHYR-02","Tier__c":"Gold","CreatedDate":"2026-03-01T10:00:00.000Z",'
                     '"LastModifiedDate":"2026-03-01T10:00:00.000Z","SystemModstamp":"2026-03-01T10:00:00.000Z"}\n')


@pytest.fixture(scope="module")
def built(warehouse, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crm")
    landing = landing_copy(tmp / "landing")
    contracts = landing / CONTRACT_FLOW / "part-r-00000"
    contracts.parent.mkdir(parents=True)
    contracts.write_text(
        CONTRACT % {"id": "800000000000FIX003", "account": "001000000000FIX002", "number": "00009003",
                    "currency": "USD"}
        + CONTRACT % {"id": "800000000000FIX004", "account": "001000000000FIX004", "number": "00009004",
                      "currency": "SEK"})
    accounts = landing / ACCOUNT_FLOW / "part-r-00000"
    accounts.parent.mkdir(parents=True)
    accounts.write_text(DUPLICATE_ACCOUNT)
    zephyr = next((landing / "appflow/salesforce/salesforce-contract").rglob("part-r-00001"))  # 00009002
    zephyr.write_text(zephyr.read_text().replace('"CurrencyIsoCode":"USD"', '"CurrencyIsoCode":"CAD"'))
    settings = new_database(warehouse)
    result = load_and_build(settings, landing, tmp / "target")
    assert result.load_exit == 0, result.load_stdout[-3000:]
    yield result
    support.drop_database(warehouse, settings.pg_database)



def test_overlapping_activated_contracts_fail_the_build(built):
    assert built.build_exit != 0
    # every order of Zephyr shipped from the second contract's start on (both cover it), and no other
    overlapping = built.query("select count(*) from analytics_marts.fct_orders where client_id = 502 "
                              "and shipped_at >= timestamp '2026-10-15' and not is_cancelled")[0][0]
    assert overlapping > 0
    assert built.outcome("orders_have_at_most_one_contract_in_force") == ("fail", overlapping)


def test_a_second_account_with_the_same_client_code_warns_and_its_contract_belongs_to_no_client(built):
    assert built.outcome("one_live_account_per_wms_client_code") == ("warn", 1)
    assert built.query("select account_id, tier from analytics_marts.dim_client "
                       "where client_id = 502 and is_current") == [("001000000000FIX002", "Silver")]
    assert built.query("select contract_number, client_id from analytics_marts.dim_contract "
                       "where account_id = '001000000000FIX004'") == [("00009004", None)]


def test_contract_currencies_are_checked_against_the_rates_seed(built):
    failing = {name: r for name, r in built.results().items()
               if name.startswith("relationships_dim_contract_currency_code")}
    assert [(r["status"], r["failures"]) for r in failing.values()] == [("fail", 1)]  # SEK, not CAD
    assert built.query("select contract_number, currency_code from analytics_marts.dim_contract "
                       "where contract_number in ('00009002', '00009004') order by 1") == \
        [("00009002", "CAD"), ("00009004", "SEK")]
