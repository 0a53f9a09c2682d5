"""AppFlow (Salesforce) and TMS output against SOURCE_FORMATS.md, read back with json, csv and pyarrow."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
from _simfiles import read_appflow, read_dms, read_tms

from unify.simulate.reference import ACCOUNT_MANAGERS, CARRIERS, CURRENCY_BY_COUNTRY, WAREHOUSE_BY_CODE
from loaders.source_tables import get_table

SF_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
FLOWS = {"salesforce-account": "Account", "salesforce-user": "User", "salesforce-contract": "Contract"}
ID_PREFIX = {"Account": "001", "User": "005", "Contract": "800"}


def case_safe_suffix(short_id: str) -> str:
    """Salesforce's documented 15 -> 18 character checksum, written independently of the simulator."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    out = ""
    for chunk in (short_id[0:5], short_id[5:10], short_id[10:15]):
        out += alphabet[sum(1 << i for i, ch in enumerate(chunk) if ch.isupper())]
    return out


def executions_in_time_order(executions: dict) -> list[tuple[str, list[dict]]]:
    """Execution ids are random: order executions by the newest SystemModstamp they carry."""
    items = [(eid, [r for p in parts for r in p.records]) for eid, parts in executions.items()]
    return sorted(items, key=lambda item: max(r["SystemModstamp"] for r in item[1]))


def test_appflow_keys_and_json_lines(tiny_csv):
    flows = read_appflow(tiny_csv.root)
    assert set(flows) == set(FLOWS)
    for flow, executions in flows.items():
        table = get_table("salesforce", FLOWS[flow])
        for execution, parts in executions.items():
            assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", execution)
            assert parts and all(p.records for p in parts), "an execution with nothing to deliver writes no file"
            for part in parts:
                assert part.key == f"appflow/salesforce/{flow}/{execution}/{part.name}"
                assert ":" in part.name and "." not in part.name  # names with ':' and no extension
                assert part.bad_lines == 0
                assert part.data.endswith(b"\n") and part.data.count(b"\n") == len(part.records)
                for line in part.data.decode("utf-8").splitlines():
                    assert list(json.loads(line)) == [c.name for c in table.columns]  # API names, in order
                for record in part.records:
                    assert len(record["Id"]) == 18 and record["Id"].startswith(ID_PREFIX[FLOWS[flow]])
                    assert record["Id"][15:] == case_safe_suffix(record["Id"][:15])
                    assert record["IsDeleted"] is False
                    for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
                        assert SF_DATETIME.match(record[name]), record[name]
                    assert record["LastModifiedDate"] <= record["SystemModstamp"]


def test_appflow_full_then_incremental(tiny_csv):
    flows = read_appflow(tiny_csv.root)
    for flow, executions in flows.items():
        ordered = executions_in_time_order(executions)
        first_ids = {r["Id"] for r in ordered[0][1]}
        previous_max = max(r["SystemModstamp"] for r in ordered[0][1])
        # the first execution is a full pull: whatever it lacks was created after it ran
        for _, records in ordered[1:]:
            assert all(r["CreatedDate"] > previous_max for r in records if r["Id"] not in first_ids)
        for _, records in ordered[1:]:  # later executions: only records changed since the previous one
            assert min(r["SystemModstamp"] for r in records) > previous_max
            previous_max = max(r["SystemModstamp"] for r in records)


def test_salesforce_values_and_links(tiny_csv):
    flows = read_appflow(tiny_csv.root)
    records = {flow: [r for parts in ex.values() for p in parts for r in p.records] for flow, ex in flows.items()}
    users = {r["Id"]: r for r in records["salesforce-user"]}
    for user in users.values():
        assert user["Username"] == user["Username"].lower() and re.fullmatch(r"[a-z.]+@glc\.example", user["Username"])
        assert isinstance(user["IsActive"], bool)
    assert {u.username for u in ACCOUNT_MANAGERS} <= {u["Username"] for u in users.values()}
    clients = {r["ClientCode"] for f in read_dms(tiny_csv.root)["Clients"] for r in f.rows}
    accounts = records["salesforce-account"]
    assert {a["WMS_Client_Code__c"] for a in accounts if a["WMS_Client_Code__c"]} == clients
    assert all(a["OwnerId"] in users for a in accounts)
    assert {a["Tier__c"] for a in accounts if a["Tier__c"]} <= {"Gold", "Silver", "Bronze"}
    assert any(a["WMS_Client_Code__c"] is None for a in accounts), "prospects have no WMS code (JSON null)"
    contracts = records["salesforce-contract"]
    account_ids = {a["Id"] for a in accounts}
    for c in contracts:
        assert c["AccountId"] in account_ids
        assert c["CurrencyIsoCode"] in ("USD", "EUR", "GBP") and c["Status"] in ("Draft", "Activated", "Expired")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", c["StartDate"]) and c["StartDate"] < c["EndDate"]
        for name in ("Handling_Fee_Per_Order__c", "Pick_Fee_Per_Unit__c", "Freight_Markup_Pct__c"):
            assert isinstance(c[name], (int, float)) and not isinstance(c[name], bool)
    # rates change over time: a contract delivered again with a later LastModifiedDate and other rates
    versions: dict[str, list[dict]] = {}
    for c in contracts:
        versions.setdefault(c["Id"], []).append(c)
    changed = [v for v in versions.values() if len({(x["LastModifiedDate"], x["Pick_Fee_Per_Unit__c"]) for x in v}) > 1]
    assert changed, "some contract's rates changed during the week"


def test_appflow_parquet_types(tiny_parquet):
    part = next(p for ex in read_appflow(tiny_parquet.root)["salesforce-contract"].values() for p in ex)
    schema = pq.read_schema(io.BytesIO(part.data))
    assert schema.names == [c.name for c in get_table("salesforce", "Contract").columns]
    assert schema.field("IsDeleted").type == pa.bool_()
    assert schema.field("SystemModstamp").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("StartDate").type == pa.date32()
    assert schema.field("Handling_Fee_Per_Order__c").type == pa.float64()


def test_tms_paths_headers_and_values(tiny_csv):
    report = tiny_csv.report
    days = [(report.first_day + timedelta(days=i)) for i in range((report.last_day - report.first_day).days + 1)]
    for extract in ("carriers", "shipments", "tracking_events"):
        for day in days:
            path = tiny_csv.root / f"tms/{extract}/dt={day.isoformat()}/{extract}-{day.strftime('%Y%m%d')}.csv"
            assert path.exists(), path
            assert path.read_text("utf-8").split("\n")[0].split(",") == \
                [c.name for c in get_table("tms", extract).columns]
    tms = read_tms(tiny_csv.root)
    first = report.first_day.isoformat()
    assert [r["carrier_id"] for r in tms["carriers"][first]] == [c.carrier_id for c in CARRIERS]
    # TMS identifiers are the TMS's opaque strings (DOMAIN.md), written as the TMS writes them: never a
    # bare number that a loader or model could get away with treating as an integer
    ids = {"carrier_id": r"C\d+", "shipment_id": r"SHP-\d+", "event_id": r"E\d+"}
    for extract, rows in tms.items():
        for row in (r for day_rows in rows.values() for r in day_rows):
            for column in set(ids) & set(row):
                assert re.fullmatch(ids[column], row[column]), (extract, column, row[column])
    assert {r["carrier_name"] for r in tms["carriers"][first]} >= {"Smith, Jones & Co Haulage"}  # quoted comma
    assert any(r["scac"] is None for r in tms["carriers"][first]), "empty field = NULL"
    later = [r for day, rows in tms["carriers"].items() if day != first for r in rows]
    assert len(later) < len(CARRIERS), "later extracts hold only changed carriers"
    shipments = [r for rows in tms["shipments"].values() for r in rows]
    for row in shipments:
        for name in ("shipped_at", "updated_at", "estimated_delivery_at"):
            assert ISO_UTC.match(row[name]), row[name]
        assert (row["delivered_at"] is None) == (row["status"] != "DELIVERED")
        assert row["currency"] == CURRENCY_BY_COUNTRY[WAREHOUSE_BY_CODE[row["warehouse_code"]].country]
        assert re.fullmatch(r"\d+\.\d{2}", row["freight_cost"]) and re.fullmatch(r"\d+\.\d{3}", row["weight_kg"])
    for day, rows in tms["shipments"].items():  # a day's file: rows changed that day, one per shipment
        assert all(r["updated_at"].startswith(day) for r in rows)
        assert len({r["shipment_id"] for r in rows}) == len(rows)
    events = [r for rows in tms["tracking_events"].values() for r in rows]
    assert {r["event_code"] for r in events} <= {"PICKED_UP", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED",
                                                 "EXCEPTION"}
    assert {r["shipment_id"] for r in events} <= {r["shipment_id"] for r in shipments}
