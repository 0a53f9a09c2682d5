"""DMS output against SOURCE_FORMATS.md (GLC's endpoint settings), read back with csv and pyarrow."""

from __future__ import annotations

import io
import re

import pyarrow as pa
import pytest
import pyarrow.parquet as pq
from _simfiles import read_csv_strict, read_dms

from unify.simulate.reference import WAREHOUSES
from loaders.source_tables import AZUREWARE, get_table

LOAD_NAME = re.compile(r"^LOAD([0-9A-F]{8})\.(csv|parquet)$")
CDC_NAME = re.compile(r"^\d{8}-(\d{9,10})\.(csv|parquet)$")
DMS_TS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")


def expected_header(table: str) -> list[str]:
    return ["Op", "dms_commit_ts", *(c.name for c in get_table("azureware", table).columns), "dms_change_seq"]


def test_keys_folders_and_file_names(tiny_csv):
    dms = read_dms(tiny_csv.root)
    assert set(dms) == {t.name for t in AZUREWARE}, "one folder per dbo table, named as in the source"
    for table, files in dms.items():
        loads = [f for f in files if f.is_load]
        numbers = [int(LOAD_NAME.match(f.name).group(1), 16) for f in loads]
        assert numbers == list(range(1, len(loads) + 1)), f"{table}: LOAD files count 1, 2, ... in hex"
        for f in files:
            assert f.is_load or CDC_NAME.match(f.name), f.key
    # no full-load file for tables that were empty at task start (the folder appears with the first change)
    assert not any(f.is_load for f in dms["Orders"]) and not any(f.is_load for f in dms["OrderLines"])
    # hexadecimal counters: some table has more than nine LOAD files, e.g. LOAD0000000A
    assert any(re.search(r"LOAD0000000[A-F]", f.name) for files in dms.values() for f in files)
    # CDC names carry the time with a varying number of digits
    digits = {len(CDC_NAME.match(f.name).group(1)) for files in dms.values() for f in files if not f.is_load}
    assert digits == {9, 10}


def test_header_and_column_order(tiny_csv):
    for table, files in read_dms(tiny_csv.root).items():
        for f in files:
            assert f.error is None, f"{f.key}: {f.error}"
            assert f.header == expected_header(table), f.key


def test_op_commit_ts_and_change_seq(tiny_csv):
    dms = read_dms(tiny_csv.root)
    cdc = []
    for table, files in dms.items():
        for f in files:
            seqs = [r["dms_change_seq"] for r in f.rows]
            if f.is_load:
                assert {r["Op"] for r in f.rows} == {"I"}  # IncludeOpForFullLoad
                assert set(seqs) == {""}  # $AR_H_CHANGE_SEQ is empty on full load
                assert len({r["dms_commit_ts"] for r in f.rows}) == 1  # the task start time
            else:
                assert {r["Op"] for r in f.rows} <= {"I", "U"}  # no deletes without the deletes fault
                assert seqs == sorted(seqs), f"{f.key}: changes in sequence order"
                cdc.extend(f.rows)
            for r in f.rows:
                assert DMS_TS.match(r["dms_commit_ts"]), r["dms_commit_ts"]
    seqs = [r["dms_change_seq"] for r in cdc]
    assert all(len(s) == 35 and s.isdigit() for s in seqs)
    assert len(set(seqs)) == len(seqs), "sequence numbers are unique"
    in_order = sorted(cdc, key=lambda r: r["dms_change_seq"])
    commits = [r["dms_commit_ts"] for r in in_order]
    assert commits == sorted(commits), "dms_change_seq sorts in commit order"
    for r in in_order:  # its 16 leading digits are the commit time to the hundredth of a second
        assert r["dms_change_seq"][:16] == re.sub(r"\D", "", r["dms_commit_ts"])[:16]
    assert len(set(commits)) < len(commits), "commit times tie (an order and its lines: one transaction)"


def test_null_encoding_and_value_formats(tiny_csv):
    dms = read_dms(tiny_csv.root)
    orders = [r for f in dms["Orders"] for r in f.rows]
    assert any(r["ShippedAt"] == "NULL" for r in orders if r["Status"] == "NEW")
    assert all(r["ShippedAt"] != "NULL" for r in orders if r["Status"] == "SHIPPED")
    assert all(DMS_TS.match(r[c]) for r in orders for c in ("CreatedAt", "RequiredShipBy", "ModifiedAt"))
    assert all(re.match(r"^\d{4}-\d\d-\d\d$", r["PromisedDeliveryDate"]) for r in orders)
    products = [r for f in dms["Products"] for r in f.rows]
    assert any(r["HazmatClass"] == "NULL" for r in products) and any(r["HazmatClass"] != "NULL" for r in products)
    assert all(re.match(r"^\d+\.\d{3}$", r["UnitWeightKg"]) for r in products)  # decimal(10,3)
    assert all(re.match(r"^\d+\.\d{4}$", r["UnitVolumeM3"]) for r in products)  # decimal(10,4)
    clients = [r for f in dms["Clients"] for r in f.rows]
    assert {r["IsActive"] for r in clients} == {"1"}  # bit
    raw = b"".join(f.data for f in dms["Orders"])
    assert b",NULL," in raw and b'"NULL"' not in raw  # unquoted NULL marker


def test_rfc4180_quoting(tiny_csv):
    dms = read_dms(tiny_csv.root)
    tricky = {"comma": 0, "quote": 0, "newline": 0}
    for table in ("Orders", "Products"):
        for f in dms[table]:
            text = f.data.decode("utf-8")
            for row in f.rows:
                for value in row.values():
                    if any(ch in value for ch in ',"\n'):
                        tricky["comma"] += "," in value
                        tricky["quote"] += '"' in value
                        tricky["newline"] += "\n" in value
                        assert '"' + value.replace('"', '""') + '"' in text
    assert all(tricky.values()), tricky


def test_warehouses_match_reference(tiny_csv):
    rows = [r for f in read_dms(tiny_csv.root)["Warehouses"] for r in f.rows]
    assert [(int(r["WarehouseId"]), r["WarehouseCode"], r["City"], r["CountryCode"], r["TimeZone"]) for r in rows] == \
        [(w.warehouse_id, w.code, w.city, w.country, w.time_zone) for w in WAREHOUSES]


def test_parquet_types(tiny_parquet):
    dms = read_dms(tiny_parquet.root)
    assert all(f.name.endswith(".parquet") for files in dms.values() for f in files)
    orders = next(f for f in dms["Orders"] if not f.is_load)
    schema = pq.read_schema(io.BytesIO(orders.data))
    assert schema.names == expected_header("Orders")
    assert schema.field("Op").type == pa.string()
    assert schema.field("OrderId").type == pa.int64()
    assert schema.field("ClientId").type == pa.int32()
    assert schema.field("CreatedAt").type == pa.timestamp("us")
    assert schema.field("PromisedDeliveryDate").type == pa.date32()
    products = next(f for f in dms["Products"] if f.is_load)
    pschema = pq.read_schema(io.BytesIO(products.data))
    assert pschema.field("UnitWeightKg").type == pa.decimal128(10, 3)
    assert pschema.field("UnitVolumeM3").type == pa.decimal128(10, 4)
    clients = next(f for f in dms["Clients"] if f.is_load)
    assert pq.read_schema(io.BytesIO(clients.data)).field("IsActive").type == pa.bool_()
    # typed values still carry the same change numbers and NULLs
    rows = orders.rows
    assert all(len(r["dms_change_seq"]) == 35 for r in rows)
    assert any(r["ShippedAt"] is None for r in rows)


def test_csv_reader_is_strict():
    """The test reader itself rejects what a loader must reject (guards the fault tests)."""
    with pytest.raises(ValueError):
        read_csv_strict(b"a,b\n1,2\n3")
    with pytest.raises(ValueError):
        read_csv_strict(b"a,b\n1,\xff\n")
    assert read_csv_strict(b'a,b\n"x,\ny",2\n') == (["a", "b"], [["x,\ny", "2"]])
