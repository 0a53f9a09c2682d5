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
              shipped: datetime | None = None, full_load: bool = False) -> tuple:
    seq = "" if full_load else f"{changed:%Y%m%d%H%M%S}00{next(_seq):019d}"
    created = datetime(2026, 3, 1, 8, 0, 0)
    return (op, changed, seq, order_id, f"SO-{order_id}", 1, 1, "B2C", "STANDARD", created,
            created + timedelta(hours=30), "2026-03-04", status, shipped, "Name", "Street 1", "AB1 2CD", "GB",
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
