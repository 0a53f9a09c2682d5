"""A landing zone written by hand (pytests/feeds/landing, CASES.md), not by the simulator: it loads with no
quarantine and the marts give OTIF and profitability exactly as worked out by hand below.

The expected numbers are literals derived step by step in the comments from the landed files and the
seeds (currency_rates_monthly: GBP 2026-11 = 1.250536 USD, USD = 1; warehouse_cost_rates: LHR1 2.85 per
order + 0.31 per unit, EWR1 3.10 + 0.35). Nothing here re-runs the models' SQL.

The orders (CASES.md has the why of each):
  client 501 (KESTREL-01, LHR1 = WMS warehouse 101, contract 00009001 in GBP)
    70001 shipped 11-03 00:38, 3 units, SHP-000101 (12.00 GBP) delivered 11-04, promised 11-05
    70002 shipped 11-03 14:00, 4 units, SHP-000102 (8.00) delivered 11-04 + SHP-000103 (5.50) delivered 11-06,
          promised 11-05
    70003 shipped 11-04 11:00, 3 of 5 units (short), SHP-000104 (6.25) delivered 11-05, promised 11-06
    70004 shipped 11-04 12:00, 1 unit, SHP-000105 (4.00) never delivered, promised 11-06
    70005 cancelled; 70006 deleted; 70007 open (never shipped), promised 11-08
  client 502 (ZEPHYR-02, EWR1 = WMS warehouse 102, contract 00009002 in USD)
    70101 shipped 11-03 10:00, 2 units, SHP-000201 (20.00 USD) delivered 11-04, promised 11-04
    70102 shipped 11-03 16:00, 1 unit, SHP-000202 (15.00) delivered 11-05 23:59, promised 11-05
    70103 shipped 11-04 15:00, 3 units, SHP-000203 (25.00) delivered 11-07, promised 11-06
Contract 00009001: version 1 (from 10-01): 2.50 per order, 0.40 per unit, markup 10%; version 2, changed
2026-11-03 09:48 UTC: 3.00 per order, 0.45 per unit, markup 12%. Contract 00009002: 4.00, 0.25, 5%.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from feeds_support import landed_files

from unify.pii_key import PiiKey, keyed_hash

# records per raw table, counted in the files (an Orders CDC file repeats one record: DMS duplicates)
RAW_ROWS = {
    "raw_azureware.warehouses": 2, "raw_azureware.clients": 2, "raw_azureware.products": 3,
    "raw_azureware.inventory_balances": 3,
    "raw_azureware.orders": 4 + 10 + 6 + 1,  # 20261102, 20261103, 20261104 (one record twice), 20261105
    "raw_azureware.order_lines": 5 + 10 + 5,  # the three Parquet files (feeds_support.ORDER_LINES)
    "raw_salesforce.users": 1, "raw_salesforce.accounts": 2, "raw_salesforce.contracts": 1 + 1 + 1,
    "raw_tms.carriers": 2 + 2 + 0,  # 11-02 (C7, C07), 11-05 (two 69-character ids), 11-08 (a header, no change)
    "raw_tms.shipments": 5 + 6 + 2 + 1 + 1 + 0,  # 11-03 .. 11-08
    "raw_tms.tracking_events": 5 + 6 + 2 + 1 + 1 + 0,
}


def test_every_hand_written_file_loads_with_no_quarantine(hand_built):
    assert hand_built.load_exit == 0, hand_built.load_stdout[-3000:]
    ledger = hand_built.query("select status, count(*) from unify_loader.load_ledger group by status")
    assert dict(ledger) == {"loaded": len(landed_files(hand_built.landing))}  # 31 files, no quarantine
    for table, rows in RAW_ROWS.items():
        assert hand_built.query(f"select count(*) from {table}") == [(rows,)], table


def test_dbt_build_passes_every_test(hand_built):
    assert hand_built.build_exit == 0, hand_built.build_stdout[-3000:]
    statuses = {r["status"] for r in hand_built.results().values()}
    assert statuses <= {"success", "pass", "no-op"}, statuses


def test_otif_by_client_and_promised_month_is_the_hand_computed_one(hand_built):
    # Due orders: promised on or before the as-of date (2026-11-10), cancelled excluded, deleted gone.
    # Client 501, promised in 2026-11: 70001, 70002, 70003, 70004, 70007 -> 5 due (70005 cancelled,
    #   70006 deleted). Delivered date = the latest delivered_at of all shipments, none undelivered:
    #   70001 11-04 <= 11-05 on time; 70002 11-06 (SHP-000103) > 11-05 late; 70003 11-05 <= 11-06 on time;
    #   70004 SHP-000105 undelivered -> not on time; 70007 never shipped, past its date -> not on time.
    #   On time: 70001, 70003 -> 2. In full (every line shipped >= ordered): 70001, 70002, 70004 -> 3
    #   (70003 shipped 3 of 5; 70007 shipped 0 of 2). OTIF: 70001 only -> 1 of 5 = 20.00%.
    # Client 502: 70101 11-04 <= 11-04, 70102 11-05 (23:59 UTC) <= 11-05, 70103 11-07 > 11-06.
    #   On time 2, in full 3, OTIF 2 of 3 = 66.67%.
    rows = hand_built.query("""
        select client_id, promised_month, count(*),
               sum(case when is_on_time then 1 else 0 end), sum(case when is_in_full then 1 else 0 end),
               sum(case when is_otif then 1 else 0 end),
               round(100.0 * sum(case when is_otif then 1 else 0 end) / count(*), 2)
        from analytics_marts.fct_orders
        where not is_cancelled and promised_delivery_date <= date '2026-11-10'
        group by client_id, promised_month order by client_id""")
    assert rows == [
        (501, date(2026, 11, 1), 5, 2, 3, 1, Decimal("20.00")),
        (502, date(2026, 11, 1), 3, 2, 3, 2, Decimal("66.67")),
    ]
    otif_orders = [r[0] for r in hand_built.query(
        "select order_id from analytics_marts.fct_orders where is_otif order by order_id")]
    assert otif_orders == [70001, 70101, 70102]
    assert hand_built.query("select count(*) from analytics_marts.fct_orders where order_id = 70006") == [(0,)]


def test_profitability_is_the_hand_computed_one(hand_built):
    # Client 501, ship month 2026-11: shipped, not cancelled: 70001, 70002, 70003, 70004 -> 4 orders,
    # units 3 + 4 + 3 + 1 = 11, shipments 1 + 2 + 1 + 1 = 5. Fees in GBP, terms as of each ShippedAt:
    #   70001 (00:38, before the 09:48 change: version 1): 2.50 + 0.40 x 3 = 2.50 + 1.20
    #   70002, 70003, 70004 (after: version 2): 3.00 + 0.45 x 4; 3.00 + 0.45 x 3; 3.00 + 0.45 x 1
    #   handling 2.50 + 3 x 3.00 = 11.50 GBP x 1.250536 = 14.381164 -> 14.38 USD
    #   pick 1.20 + 1.80 + 1.35 + 0.45 = 4.80 GBP x 1.250536 = 6.0025728 -> 6.00
    #   freight 12.00 + (8.00 + 5.50) + 6.25 + 4.00 = 35.75 GBP x 1.250536 = 44.706662 -> 44.71
    #   recharge: 70001 at 10%: 12.00 x 1.250536 x 1.10 = 16.5070752; the others at 12%:
    #     (13.50 + 6.25 + 4.00) = 23.75 x 1.250536 = 29.700230 x 1.12 = 33.2642576 -> 49.7713328 -> 49.77
    #   revenue 14.381164 + 6.0025728 + 49.7713328 = 70.1550696 -> 70.16
    #   warehouse cost (LHR1 by its code; the WMS id is 101) 4 x 2.85 + 11 x 0.31 = 11.40 + 3.41 = 14.81
    #   cost 44.706662 + 14.81 = 59.516662 -> 59.52; margin 70.1550696 - 59.516662 = 10.6384076 -> 10.64
    #   margin % 10.6384076 / 70.1550696 = 15.164% -> 15.16
    # Client 502 (USD, rate 1): 70101, 70102, 70103 -> 3 orders, 6 units, 3 shipments
    #   handling 3 x 4.00 = 12.00; pick 6 x 0.25 = 1.50; freight 20 + 15 + 25 = 60.00; recharge 60 x 1.05 = 63.00
    #   revenue 12.00 + 1.50 + 63.00 = 76.50; warehouse cost (EWR1) 3 x 3.10 + 6 x 0.35 = 9.30 + 2.10 = 11.40
    #   cost 60.00 + 11.40 = 71.40; margin 5.10; margin % 5.10 / 76.50 = 6.667% -> 6.67
    rows = hand_built.query("""
        select client_id, ship_month, shipped_orders, units_shipped, shipments, contract_versions_applied,
               handling_fee_revenue_usd, pick_fee_revenue_usd, freight_recharge_revenue_usd, revenue_usd,
               freight_cost_usd, warehouse_handling_cost_usd, cost_usd, gross_margin_usd, margin_pct
        from analytics_marts.fct_client_profitability_monthly order by client_id""")
    d = Decimal
    assert rows == [
        (501, date(2026, 11, 1), 4, 11, 5, 2, d("14.38"), d("6.00"), d("49.77"), d("70.16"), d("44.71"),
         d("14.81"), d("59.52"), d("10.64"), d("15.16")),
        (502, date(2026, 11, 1), 3, 6, 3, 1, d("12.00"), d("1.50"), d("63.00"), d("76.50"), d("60.00"),
         d("11.40"), d("71.40"), d("5.10"), d("6.67")),
    ]


def test_a_contract_changed_mid_day_applies_from_its_change_time(hand_built):
    # 70001 shipped at 00:38 on the day the rate changed (09:48): version 1's 2.50 GBP = 3.12634 USD;
    # 70002 shipped at 14:00 that day: version 2's 3.00 GBP = 3.751608 USD.
    rows = hand_built.query("""
        select order_id, handling_fee_revenue_usd, freight_markup_pct
        from analytics_intermediate.int_orders_priced_with_contract_terms
        where order_id in (70001, 70002) order by order_id""")
    assert rows == [(70001, Decimal("3.126340000000"), Decimal("10.00")),
                    (70002, Decimal("3.751608000000"), Decimal("12.00"))]


def test_tms_identifiers_stay_text_end_to_end(hand_built):
    # C7 and C07 are two carriers: as integers they would be one (and SHP-... would not load at all); two
    # ids of 69 characters that differ in the last one stay two (cut to 64 they were one, and the build failed)
    long_id = "CARRIER-" + "X" * 60
    carriers = hand_built.query("select carrier_id, carrier_name from analytics_marts.dim_carrier order by 1")
    assert carriers == [("C07", "Zeta Parcel Co"), ("C7", "Kestrel Haulage, Ltd."),
                        (long_id + "A", "Long Id Road Co"), (long_id + "B", "Long Id Air Co")]
    by_client = hand_built.query("""
        select client_id, carrier_id, string_agg(shipment_id, ',' order by shipment_id)
        from analytics_marts.fct_shipments group by client_id, carrier_id order by client_id""")
    assert by_client == [(501, "C7", "SHP-000101,SHP-000102,SHP-000103,SHP-000104,SHP-000105"),
                         (502, "C07", "SHP-000201,SHP-000202,SHP-000203")]
    events = hand_built.query("select min(event_id), max(event_id), count(*) "
                              "from analytics_staging.stg_tms__tracking_events")
    assert events == [("E00001", "E00015", 15)]
    types = dict(hand_built.query("""
        select table_name || '.' || column_name, data_type from information_schema.columns
        where column_name in ('carrier_id', 'shipment_id', 'event_id')
          and table_schema in ('raw_tms', 'analytics_staging', 'analytics_marts')"""))
    assert set(types.values()) == {"character varying"}, types


def test_quoted_commas_and_line_breaks_in_pii_load_whole_and_are_masked(hand_built):
    raw = hand_built.query("select customername, destinationaddress from raw_azureware.orders "
                           "where orderid = 70001 and op = 'I'")
    assert raw == [("O'Brien, Siobhán", "Flat 2, 10 Example Road\nLondon")]
    # staging keeps the keyed hash of lower(trim(name)) (macros/pii/keyed_hash.sql; the reference
    # construction in unify/pii_key.py) with the key the warehouse holds in its vault
    (inner, outer), = hand_built.query("select inner_key, outer_key from analytics_pii.pii_hash_key")
    expected = keyed_hash(PiiKey(inner, outer, "vault"), "o'brien, siobhán")
    assert hand_built.query("select customer_key from analytics_marts.fct_orders where order_id = 70001") == \
        [(expected,)]
    assert hand_built.query("select destination_postcode_prefix from analytics_marts.fct_orders "
                            "where order_id = 70101") == [("071",)]
