"""Hand-built raw rows for the incremental-model tests: the raw tables' column lists (as the loaders
create them, loaders/source_tables.py, metadata columns last) and one insert helper."""

from __future__ import annotations

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
