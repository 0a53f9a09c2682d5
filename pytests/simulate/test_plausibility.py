"""The simulated operations look like a 3PL's: OTIF per client per DOMAIN.md, statuses, shorts, splits.

Computed from the files with plain Python (pytests/simulate/_simfiles.py), as a data test would.
"""

from __future__ import annotations

from collections import Counter

from _simfiles import latest_versions, otif_by_client, read_appflow, read_dms, read_tms

from unify.simulate.reference import ACCOUNT_MANAGERS, CURRENCY_BY_COUNTRY, WAREHOUSE_BY_CODE


def test_otif_per_client_is_plausible_and_differs(plausibility_run):
    result = otif_by_client(plausibility_run.root, plausibility_run.report.last_day)
    rates = {client: hits / due for client, (due, hits) in result.items()}
    print("OTIF by client:", {c: f"{r:.1%} of {result[c][0]}" for c, r in sorted(rates.items(), key=lambda x: int(x[0]))})
    assert len(rates) == 8 and all(due >= 50 for due, _ in result.values())
    assert all(0.80 <= r <= 0.99 for r in rates.values()), rates
    assert max(rates.values()) - min(rates.values()) >= 0.02, "clients differ"


def test_orders_lines_and_stock(plausibility_run):
    dms = read_dms(plausibility_run.root)
    orders = latest_versions(dms["Orders"], ("OrderId",)).values()
    statuses = Counter(r["Status"] for r in orders)
    assert set(statuses) == {"NEW", "ALLOCATED", "PICKING", "PACKED", "SHIPPED", "CANCELLED"}
    assert 0.005 < statuses["CANCELLED"] / len(orders) < 0.05
    history = Counter()
    for f in dms["Orders"]:
        for r in f.rows:
            history[(r["OrderId"], r["Status"])] += 1
    shipped = [r for r in orders if r["Status"] == "SHIPPED"]
    for r in shipped[:200]:  # every shipped order went through each status, in order of its changes
        assert all(history[(r["OrderId"], s)] == 1 for s in ("NEW", "ALLOCATED", "PICKING", "PACKED", "SHIPPED"))
    lines = latest_versions(dms["OrderLines"], ("OrderLineId",)).values()
    shipped_ids = {r["OrderId"] for r in shipped}
    shipped_lines = [r for r in lines if r["OrderId"] in shipped_ids]
    short = [r for r in shipped_lines if int(r["QtyShipped"]) < int(r["QtyOrdered"])]
    assert 0.001 < len(short) / len(shipped_lines) < 0.03
    assert all(int(r["QtyShipped"]) <= int(r["QtyPicked"]) <= int(r["QtyOrdered"]) for r in lines)
    order_types = Counter(r["OrderType"] for r in orders)
    assert order_types["B2B"] and order_types["B2C"] > order_types["B2B"]
    stock = latest_versions(dms["InventoryBalances"], ("WarehouseId", "ProductId")).values()
    assert all(int(r["QtyOnHand"]) >= 0 and int(r["QtyAllocated"]) >= 0 for r in stock)
    changes = Counter((r["WarehouseId"], r["ProductId"]) for f in dms["InventoryBalances"] for r in f.rows)
    assert max(changes.values()) > 20, "stock balances churn"


def test_shipments_and_tracking(plausibility_run):
    tms = read_tms(plausibility_run.root)
    versions = [r for rows in tms["shipments"].values() for r in rows]
    latest = {}
    for r in versions:
        if r["shipment_id"] not in latest or r["updated_at"] >= latest[r["shipment_id"]]["updated_at"]:
            latest[r["shipment_id"]] = r
    final = list(latest.values())
    statuses = Counter(r["status"] for r in final)
    assert {"IN_TRANSIT", "DELIVERED", "EXCEPTION", "RETURNED"} <= set(statuses) | {
        r["status"] for r in versions}
    per_order = Counter(r["order_number"] for r in final)
    assert any(n > 1 for n in per_order.values()), "some orders ship in several shipments"
    late = [r for r in final if r["delivered_at"] and r["delivered_at"] > r["estimated_delivery_at"]]
    assert 0.01 < len(late) / statuses["DELIVERED"] < 0.15
    currencies = {r["currency"] for r in final}
    assert currencies == {"GBP", "EUR", "USD", "CAD"}
    for r in final:
        assert r["currency"] == CURRENCY_BY_COUNTRY[WAREHOUSE_BY_CODE[r["warehouse_code"]].country]
    modes = {row["carrier_id"]: row["mode"] for rows in tms["carriers"].values() for row in rows}
    assert {modes[r["carrier_id"]] for r in final} >= {"ROAD", "AIR", "PARCEL"}
    events = [r for rows in tms["tracking_events"].values() for r in rows]
    delivered_events = {r["shipment_id"] for r in events if r["event_code"] == "DELIVERED"}
    assert delivered_events == {r["shipment_id"] for r in final if r["status"] == "DELIVERED"}


def test_salesforce_owners_and_contract_rates_differ(plausibility_run):
    flows = read_appflow(plausibility_run.root)
    users = {r["Id"]: r["Username"] for ex in flows["salesforce-user"].values() for p in ex for r in p.records}
    accounts = {}
    for ex in flows["salesforce-account"].values():
        for p in ex:
            for r in p.records:
                if r["Id"] not in accounts or r["SystemModstamp"] > accounts[r["Id"]]["SystemModstamp"]:
                    accounts[r["Id"]] = r
    owners = {users[a["OwnerId"]] for a in accounts.values() if a["WMS_Client_Code__c"]}
    assert owners == {u.username for u in ACCOUNT_MANAGERS}, "each account manager owns clients"
    contracts = [r for ex in flows["salesforce-contract"].values() for p in ex for r in p.records
                 if r["Status"] == "Activated"]
    assert len({c["Handling_Fee_Per_Order__c"] for c in contracts}) >= 6, "clients pay different rates"
    assert len({c["Freight_Markup_Pct__c"] for c in contracts}) >= 6
