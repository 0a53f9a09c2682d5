"""Hand-built raw rows for the incremental-model tests: the raw tables' column lists (as the loaders
create them, loaders/source_tables.py, metadata columns last), one row builder per table (in those
columns' order; each row gets the next record number and change sequence) and one insert helper."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg2

ORDER_COLUMNS = ("op", "dms_commit_ts", "dms_change_seq", "orderid", "ordernumber", "clientid", "warehouseid",
                 "ordertype", "priority", "createdat", "requiredshipby", "promiseddeliverydate", "status",
                 "shippedat", "customername", "destinationaddress", "destinationpostcode", "destinationcountry",
                 "modifiedat", "_source_key", "_source_row", "_batch_id", "_loaded_at")
LINE_COLUMNS = ("op", "dms_commit_ts", "dms_change_seq", "orderlineid", "orderid", "linenumber", "productid",
                "qtyordered", "qtypicked", "qtyshipped", "modifiedat", "_source_key", "_source_row", "_batch_id",
                "_loaded_at")
INVENTORY_COLUMNS = ("op", "dms_commit_ts", "dms_change_seq", "warehouseid", "productid", "qtyonhand",
                     "qtyallocated", "modifiedat", "_source_key", "_source_row", "_batch_id", "_loaded_at")
SHIPMENT_COLUMNS = ("shipment_id", "order_number", "warehouse_code", "carrier_id", "service_level",
                    "tracking_number", "shipped_at", "estimated_delivery_at", "delivered_at", "status", "weight_kg",
                    "freight_cost", "currency", "updated_at", "_source_key", "_source_row", "_batch_id",
                    "_loaded_at")


def insert_rows(settings, table: str, columns: tuple, rows: list[tuple]) -> None:
    conn = psycopg2.connect(settings.dsn())
    with conn, conn.cursor() as cur:
        placeholders = ", ".join(["%s"] * len(columns))
        cur.executemany(f"insert into {table} ({', '.join(columns)}) values ({placeholders})", rows)
    conn.close()


_seq = iter(range(1, 10_000))


def order_row(order_id: int, status: str, changed: datetime, loaded: datetime, op: str = "U",
              shipped: datetime | None = None, full_load: bool = False, created: datetime | None = None,
              promised: str = "2026-03-04", warehouse_id: int = 1) -> tuple:
    """An order of client 1 (warehouse 1 unless told), created 2026-03-01 08:00 unless told, due to ship
    30 hours after it was created."""
    seq = "" if full_load else f"{changed:%Y%m%d%H%M%S}00{next(_seq):019d}"
    created = created or datetime(2026, 3, 1, 8, 0, 0)
    return (op, changed, seq, order_id, f"SO-{order_id}", 1, warehouse_id, "B2C", "STANDARD", created,
            created + timedelta(hours=30), promised, status, shipped, "Name", "Street 1", "AB1 2CD", "GB",
            changed, f"dms/azureware/dbo/Orders/{loaded:%Y%m%d-%H%M%S}.csv", order_id, f"b-{loaded:%H%M%S}", loaded)


def line_row(line_id: int, order_id: int, qty_shipped: int, changed: datetime, loaded: datetime,
             op: str = "I") -> tuple:
    seq = f"{changed:%Y%m%d%H%M%S}00{next(_seq):019d}"
    return (op, changed, seq, line_id, order_id, 1, 1001, 2, qty_shipped, qty_shipped, changed,
            f"dms/azureware/dbo/OrderLines/{loaded:%Y%m%d-%H%M%S}.csv", line_id, f"b-{loaded:%H%M%S}", loaded)


def inventory_row(product_id: int, qty_on_hand: int, changed: datetime, loaded: datetime, op: str = "U") -> tuple:
    seq = f"{changed:%Y%m%d%H%M%S}00{next(_seq):019d}"
    return (op, changed, seq, 1, product_id, qty_on_hand, 0, changed,
            f"dms/azureware/dbo/InventoryBalances/{loaded:%Y%m%d-%H%M%S}.csv", product_id, f"b-{loaded:%H%M%S}", loaded)


def shipment_row(shipment_id: str, order_id: int, delivered: datetime | None, updated: datetime,
                 loaded: datetime) -> tuple:
    # TMS identifiers are opaque strings (SHP-501, carrier C1), as the TMS writes them
    return (shipment_id, f"SO-{order_id}", "LHR1", "C1", "NEXT_DAY", f"TRK{shipment_id}", datetime(2026, 3, 1, 15),
            datetime(2026, 3, 3, 12), delivered, "DELIVERED" if delivered else "IN_TRANSIT", 1.5,
            "12.34", "GBP", updated, f"tms/shipments/dt={loaded:%Y-%m-%d}/shipments-{loaded:%Y%m%d}.csv",
            next(_seq), f"b-{loaded:%H%M%S}", loaded)


WAREHOUSE_COLUMNS = ("op", "dms_commit_ts", "dms_change_seq", "warehouseid", "warehousecode", "name", "city",
                     "countrycode", "timezone", "openeddate", "modifiedat", "_source_key", "_source_row", "_batch_id",
                     "_loaded_at")
CLIENT_COLUMNS = ("op", "dms_commit_ts", "dms_change_seq", "clientid", "clientcode", "name", "isactive", "modifiedat",
                  "_source_key", "_source_row", "_batch_id", "_loaded_at")
ACCOUNT_COLUMNS = ("id", "isdeleted", "createddate", "lastmodifieddate", "systemmodstamp", "name", "type", "industry",
                   "billingcountry", "ownerid", "wms_client_code__c", "tier__c", "currencyisocode", "_source_key",
                   "_source_row", "_batch_id", "_loaded_at")
CONTRACT_COLUMNS = ("id", "isdeleted", "createddate", "lastmodifieddate", "systemmodstamp", "accountid",
                    "contractnumber", "status", "startdate", "enddate", "handling_fee_per_order__c",
                    "pick_fee_per_unit__c", "freight_markup_pct__c", "otif_target_pct__c", "currencyisocode",
                    "_source_key", "_source_row", "_batch_id", "_loaded_at")


def warehouse_row(warehouse_id: int, code: str, changed: datetime, loaded: datetime) -> tuple:
    seq = f"{changed:%Y%m%d%H%M%S}00{next(_seq):019d}"
    return ("I", changed, seq, warehouse_id, code, f"Warehouse {code}", "London", "GB", "Europe/London", "2020-01-01",
            changed, f"dms/azureware/dbo/Warehouses/{loaded:%Y%m%d-%H%M%S}.csv", next(_seq), f"b-{loaded:%H%M%S}",
            loaded)


def client_row(client_id: int, code: str, changed: datetime, loaded: datetime, name: str | None = None,
               op: str = "I") -> tuple:
    seq = f"{changed:%Y%m%d%H%M%S}00{next(_seq):019d}"
    return (op, changed, seq, client_id, code, name or f"Client {code}", True, changed,
            f"dms/azureware/dbo/Clients/{loaded:%Y%m%d-%H%M%S}.csv", next(_seq), f"b-{loaded:%H%M%S}", loaded)


def account_row(account_id: str, client_code: str, created: datetime, loaded: datetime) -> tuple:
    # Salesforce Ids are 18-character strings; the execution folder is AppFlow's
    return (account_id, False, created, created, created, f"Account {client_code}", "Customer", "Retail", "GB",
            "005000000000000AAA", client_code, "Gold", "GBP", f"appflow/salesforce/salesforce-account/{loaded:%H%M%S}/0",
            next(_seq), f"b-{loaded:%H%M%S}", loaded)


def contract_row(contract_id: str, account_id: str, modified: datetime, loaded: datetime, otif_target_pct: str,
                 handling_fee: str = "2.00", status: str = "Activated", start: str = "2026-01-01") -> tuple:
    return (contract_id, False, datetime(2026, 1, 1), modified, modified, account_id, f"CN-{contract_id[-4:]}", status,
            start, "2026-12-31", handling_fee, "0.5000", "10.00", otif_target_pct, "GBP",
            f"appflow/salesforce/salesforce-contract/{loaded:%H%M%S}/0", next(_seq), f"b-{loaded:%H%M%S}", loaded)
