"""Issue 13, loader side, on files written here by hand in the documented formats (SOURCE_FORMATS.md), not
by the simulator: widening where a source promises no type and quarantine where it does; damaged, growing,
linked, vanished files; a landing zone that does not exist; reasons that never quote a value.

Every expected value, type and reason is worked out by hand in the test from the bytes it writes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from _load_helpers import execute, ledger, query, unify_load

from loaders.load import EXIT_FAILED, EXIT_OK, EXIT_QUARANTINED, LoaderConfig, load

TMS_SHIPMENTS = ("shipment_id,order_number,warehouse_code,carrier_id,service_level,tracking_number,shipped_at,"
                 "estimated_delivery_at,delivered_at,status,weight_kg,freight_cost,currency,updated_at")
TMS_CARRIERS = "carrier_id,carrier_name,scac,mode,updated_at"
DMS_ORDERS = ("Op,dms_commit_ts,OrderId,OrderNumber,ClientId,WarehouseId,OrderType,Priority,CreatedAt,RequiredShipBy,"
              "PromisedDeliveryDate,Status,ShippedAt,CustomerName,DestinationAddress,DestinationPostcode,"
              "DestinationCountry,ModifiedAt,dms_change_seq")
# Personal data in the fixtures: no reason, log line or ledger row may ever carry it.
PII = ("Jane Q. Customer", "42 Secret Lane", "jane@example.com", "Johann Doe")
SEQ = "0000000000000000000000000000000000"


def _write(root: Path, key: str, text: str, mtime: float | None = None) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _order(op: str, order_id: int, name: str = "Jane Q. Customer", postcode: str = "AB1 2CD") -> str:
    return (f'{op},2026-11-02 10:00:00.000000,{order_id},SO-{order_id},1,1,B2C,STANDARD,2026-11-01 08:00:00.000000,'
            f'2026-11-02 08:00:00.000000,2026-11-04,NEW,NULL,"{name}","42 Secret Lane, Flat 3",{postcode},GB,'
            f'2026-11-02 10:00:00.000000,{SEQ}{order_id}\n')


def _assert_no_value_in(texts) -> None:
    for text in texts:
        for value in PII:
            assert value not in (text or ""), text


# ------------------------------------------------------------------------------------------ item 1: types
def test_values_a_wider_type_holds_widen_the_raw_column_and_are_reported_like_added_columns(database, tmp_path):
    root = tmp_path / "landing"
    # The TMS promises no type but its timestamps'. Worked out by hand against the raw contract:
    #  scac varchar(4) gets "ABCDE" (5 characters): varchar(max(5, 2 x 4)) = varchar(8);
    #  service_level varchar(64) gets 100 characters: varchar(max(100, 2 x 64)) = varchar(128);
    #  weight_kg numeric(12,3) gets 123456789012.5 (12 integer digits): numeric(12 + 3, 3) = numeric(15,3);
    #  freight_cost numeric(14,2) gets "n/a": no number holds it: varchar(65535).
    _write(root, "tms/carriers/dt=2026-11-02/carriers-20261102.csv",
           f"{TMS_CARRIERS}\n"
           "C7,Carrier Seven,ABCDE,ROAD,2026-11-02T10:00:00Z\n"
           "C8,Carrier Eight,ABCD,AIR,2026-11-02T10:00:00Z\n")
    long_service = "S" * 100
    _write(root, "tms/shipments/dt=2026-11-02/shipments-20261102.csv",
           f"{TMS_SHIPMENTS}\n"
           f"SHP-000123,SO-1,LHR1,C7,{long_service},TRK1,2026-11-02T09:00:00Z,,,IN_TRANSIT,123456789012.5,n/a,GBP,"
           "2026-11-02T10:00:00Z\n"
           "SHP-000124,SO-2,LHR1,C8,NEXT_DAY,TRK2,2026-11-02T09:30:00Z,,,IN_TRANSIT,1.5,12.34,GBP,"
           "2026-11-02T10:00:00Z\n")
    report = load(database, str(root), sources=["tms"])
    assert report.exit_code == EXIT_OK, report.summary()
    assert report.quarantined == [] and report.files == 2 and report.rows == 4
    widened = {(d["table"], d["column"]): (d["from"], d["type"]) for d in report.drift if d["change"] == "widened"}
    assert widened[("raw_tms.carriers", "scac")] == ("varchar(4)", "varchar(8)")
    assert widened[("raw_tms.shipments", "service_level")] == ("varchar(64)", "varchar(128)")
    assert widened[("raw_tms.shipments", "weight_kg")] == ("numeric(12,3)", "numeric(15,3)")
    assert widened[("raw_tms.shipments", "freight_cost")] == ("numeric(14,2)", "varchar(65535)")
    types = dict(query(database, "select table_name || '.' || column_name, format_type(atttypid, atttypmod) "
                                 "from information_schema.columns c join pg_attribute a on a.attname = c.column_name "
                                 "and a.attrelid = (c.table_schema || '.' || c.table_name)::regclass "
                                 "where table_schema = 'raw_tms'"))
    assert types["carriers.scac"] == "character varying(8)"
    assert types["shipments.service_level"] == "character varying(128)"
    assert types["shipments.weight_kg"] == "numeric(15,3)"
    assert types["shipments.freight_cost"] == "character varying(65535)"
    # every value as the file holds it (the alphanumeric ids, whatever the contract's id type)
    rows = query(database, "select shipment_id::text, carrier_id::text, service_level, weight_kg::text, freight_cost "
                           "from raw_tms.shipments order by _source_row")
    assert rows == [("SHP-000123", "C7", long_service, "123456789012.500", "n/a"),
                    ("SHP-000124", "C8", "NEXT_DAY", "1.500", "12.34")]
    assert "schema drift: raw_tms.shipments column weight_kg widened numeric(12,3) -> numeric(15,3)" in report.summary()
    widened_in_ledger = dict(query(database, "select object_key, columns_widened from unify_loader.load_ledger"))
    assert "weight_kg numeric(12,3)->numeric(15,3)" in widened_in_ledger[
        "tms/shipments/dt=2026-11-02/shipments-20261102.csv"].split("; ")


def test_a_number_with_an_exponent_keeps_its_numeric_column_when_another_column_widens(database, tmp_path):
    """A 70-character carrier id widens carrier_id (TMS ids are opaque strings of no promised length), and
    every widenable column of the file is profiled then: weight_kg's `2.5E+0`, a number both warehouses
    take, was judged text and turned the column into varchar, after which every build failed (numeric
    in the models, text in raw). It is a number: weight_kg stays numeric(12,3)."""
    root = tmp_path / "landing"
    carrier = "C" * 70
    _write(root, "tms/shipments/dt=2026-11-10/shipments-20261110.csv",
           f"{TMS_SHIPMENTS}\n"
           f"SHP-000302,SO-A-0007,LHR1,{carrier},STANDARD,T1,2026-11-06T12:00:00Z,,2026-11-07T20:00:00Z,DELIVERED,"
           "2.5E+0,3.00,GBP,2026-11-10T08:00:00Z\n")
    report = load(database, str(root), sources=["tms"])
    assert report.exit_code == EXIT_OK, report.summary()
    widened = {(d["table"], d["column"]): (d["from"], d["type"]) for d in report.drift if d["change"] == "widened"}
    assert widened == {("raw_tms.shipments", "carrier_id"): ("varchar(64)", "varchar(128)")}
    assert query(database, "select carrier_id, weight_kg::text from raw_tms.shipments") == [(carrier, "2.500")]


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 3])
def test_blank_lines_are_not_records_but_inside_a_quoted_value_they_are_data(database, tmp_path, monkeypatch,
                                                                             chunk_bytes):
    """A writer's extra line break after the last record (LF or CRLF), or a blank line between records: the
    file loads every record, as Redshift's COPY does (IGNOREBLANKLINES) and pyarrow's reader (the dry run, the
    bulk path). Before, a blank line was read as a record of one field, and a whole day's TMS extract was
    quarantined on PostgreSQL only. A blank line inside a quoted value is part of the value. Streamed in
    3-byte chunks too, so that chunk ends fall between CR and LF and inside the blank lines."""
    from loaders.warehouse import postgres

    monkeypatch.setattr(postgres._LandedCsv, "CHUNK_BYTES", chunk_bytes)
    root = tmp_path / "landing"
    rows = ("SHP-000123,SO-1,LHR1,C7,NEXT_DAY,TRK1,2026-11-02T09:00:00Z,,,IN_TRANSIT,1.5,12.34,GBP,2026-11-02T10:00:00Z",
            "SHP-000124,SO-2,LHR1,C8,NEXT_DAY,TRK2,2026-11-02T09:30:00Z,,,IN_TRANSIT,2.5,3.40,GBP,2026-11-02T10:00:00Z")
    _write(root, "tms/shipments/dt=2026-11-02/shipments-20261102.csv", "\n".join((TMS_SHIPMENTS, *rows)) + "\n\n\n")
    _write(root, "tms/shipments/dt=2026-11-03/shipments-20261103.csv",
           "\r\n".join((TMS_SHIPMENTS, rows[0].replace("SHP-000123", "SHP-000125"))) + "\r\n\r\n")
    _write(root, "tms/shipments/dt=2026-11-04/shipments-20261104.csv",
           "\n".join((TMS_SHIPMENTS, rows[0].replace("SHP-000123", "SHP-000126"), "", "",
                      rows[1].replace("SHP-000124", "SHP-000127"))) + "\n")
    _write(root, "tms/shipments/dt=2026-11-05/shipments-20261105.csv",
           "\r\n".join((TMS_SHIPMENTS, "", rows[0].replace("SHP-000123", "SHP-000128").replace("TRK1", '"T\r\n\r\n1"'),
                         "", rows[1].replace("SHP-000124", "SHP-000129").replace("TRK2", '"T\n\n""2"""'))) + "\r\n")
    for dry_run in (True, False):
        report = load(database, str(root), sources=["tms"], dry_run=dry_run)
        assert report.exit_code == EXIT_OK and report.quarantined == [] and report.rows == 7, report.summary()
    assert query(database, "select shipment_id, _source_row, tracking_number, weight_kg::text "
                           "from raw_tms.shipments order by 1") == [
        ("SHP-000123", 1, "TRK1", "1.500"), ("SHP-000124", 2, "TRK2", "2.500"), ("SHP-000125", 1, "TRK1", "1.500"),
        ("SHP-000126", 1, "TRK1", "1.500"), ("SHP-000127", 2, "TRK2", "2.500"),
        ("SHP-000128", 1, "T\r\n\r\n1", "1.500"), ("SHP-000129", 2, 'T\n\n"2"', "2.500")]


def test_json_numbers_with_more_places_than_the_column_round_and_more_whole_digits_widen(database, tmp_path):
    """Any JSON number is a number (SOURCE_FORMATS.md: JSON numbers): a Salesforce decimal written as
    0.45000000000000001 (a double printed in full) or with a third place in a currency field rounds to
    the column's scale, half away from zero, as COPY rounds numeric input; a value with more whole digits
    than the column holds widens it. Before, the part file was quarantined ("requires scale 17"), and an
    incremental flow never pulls those records again."""
    root = tmp_path / "landing"
    contract = {"AccountId": "001000000000FIX001", "ContractNumber": "00009001",
                "Status": "Activated", "StartDate": "2026-10-01", "EndDate": "2027-09-30", "CurrencyIsoCode": "GBP",
                "IsDeleted": False, "CreatedDate": "2026-09-20T08:00:00.000Z"}
    # the numbers as written in the file (json.dumps would print Python's shortest float instead)
    numbers = [("2.505", "0.45000000000000001", "10.300000000000001", "95"),
               ("-2.495", "1e-30", "1.2e1", "123456.5")]
    lines = []
    for n, (fee, pick, markup, target) in enumerate(numbers, start=1):
        line = json.dumps({**contract, "Id": f"80000000000000000{n}", "LastModifiedDate": "2026-11-03T12:00:00.000Z",
                           "SystemModstamp": "2026-11-03T12:00:00.000Z", "Handling_Fee_Per_Order__c": "@1",
                           "Pick_Fee_Per_Unit__c": "@2", "Freight_Markup_Pct__c": "@3", "OTIF_Target_Pct__c": "@4"})
        for i, value in enumerate((fee, pick, markup, target), start=1):
            line = line.replace(f'"@{i}"', value)
        lines.append(line)
    _write(root, "appflow/salesforce/salesforce-contract/exec-1/part-r-00000", "\n".join(lines) + "\n")
    report = load(database, str(root), sources=["salesforce"])
    assert report.exit_code == EXIT_OK, report.summary()
    assert report.quarantined == [] and report.rows == 2
    rows = query(database, "select id, handling_fee_per_order__c::text, pick_fee_per_unit__c::text, "
                           "freight_markup_pct__c::text, otif_target_pct__c::text from raw_salesforce.contracts order by id")
    assert rows == [("800000000000000001", "2.51", "0.4500", "10.30", "95.00"),
                    ("800000000000000002", "-2.50", "0.0000", "12.00", "123456.50")]
    widened = {(d["table"], d["column"]): (d["from"], d["type"]) for d in report.drift if d["change"] == "widened"}
    assert widened == {("raw_salesforce.contracts", "otif_target_pct__c"): ("numeric(7,2)", "numeric(8,2)")}


def test_a_value_that_breaks_a_type_the_source_guarantees_quarantines(database, tmp_path):
    root = tmp_path / "landing"
    # DMS: SQL Server types every column (DestinationPostcode nvarchar(16), raw varchar(64)): never widened
    _write(root, "dms/azureware/dbo/Orders/20261102-100000000.csv",
           DMS_ORDERS + "\n" + _order("I", 1) + _order("I", 2, postcode="P" * 70))
    # TMS timestamps are pinned (ISO 8601, UTC): not a timestamp is a broken file, not evolution
    _write(root, "tms/shipments/dt=2026-11-02/shipments-20261102.csv",
           f"{TMS_SHIPMENTS}\nS1,SO-1,LHR1,C7,LTL,T1,2026-13-45T99:00:00Z,,,IN_TRANSIT,1.5,12.34,GBP,"
           "2026-11-02T10:00:00Z\n")
    # Salesforce: an 18-character Id is guaranteed; a text field (Name) may grow (an admin can lengthen it)
    account = {"Id": "0015g00000ABCDEFGHIJ", "IsDeleted": False, "CreatedDate": "2026-11-01T10:00:00.000Z",
               "LastModifiedDate": "2026-11-01T10:00:00.000Z", "SystemModstamp": "2026-11-01T10:00:00.000Z",
               "Name": "Acme", "OwnerId": "0055g00000ABCDEFGH"}
    _write(root, "appflow/salesforce/salesforce-account/exec-1/part-0", json.dumps(account) + "\n")
    grown = dict(account, Id="0015g00000ABCDEFGH", Name="N" * 1100)
    _write(root, "appflow/salesforce/salesforce-account/exec-2/part-0", json.dumps(grown) + "\n")
    report = load(database, str(root))
    reasons = {q.key: (q.reason, q.line) for q in report.quarantined}
    assert reasons == {
        "dms/azureware/dbo/Orders/20261102-100000000.csv":
            ("column destinationpostcode: a value longer than character varying(64)", 3),
        "tms/shipments/dt=2026-11-02/shipments-20261102.csv":
            ("column shipped_at: not a valid timestamp without time zone", 2),
        "appflow/salesforce/salesforce-account/exec-1/part-0":
            ("column id: a value longer than character varying(18)", 1),
    }, report.summary()
    # the grown Name widened varchar(1020) -> varchar(2040) (max(1100, 2 x 1020))
    assert [(d["column"], d["from"], d["type"]) for d in report.drift] == [("name", "varchar(1020)", "varchar(2040)")]
    assert query(database, "select length(name) from raw_salesforce.accounts") == [(1100,)]


def test_widening_recreates_the_views_that_read_the_raw_table_or_quarantines_when_one_cannot_take_it(
        database, tmp_path):
    root = tmp_path / "landing"
    _write(root, "tms/carriers/dt=2026-11-01/carriers-20261101.csv",
           f"{TMS_CARRIERS}\nC1,Carrier One,ABCD,ROAD,2026-11-01T10:00:00Z\n")
    assert load(database, str(root), sources=["tms"]).exit_code == EXIT_OK
    # dbt's staging views read raw tables (PostgreSQL refuses to ALTER the type of a column a view reads)
    execute(database, "create schema stg; create role test_reader_widen; "
                      "create view stg.carriers with (security_barrier = true) as "
                      "select carrier_id, upper(scac) as scac from raw_tms.carriers; "
                      "create view stg.carrier_count as select count(*) as n, max(scac) as top from stg.carriers; "
                      "grant select on stg.carriers to test_reader_widen; "
                      "comment on view stg.carriers is 'One row per carrier version'; "
                      "comment on column stg.carriers.scac is 'The carrier code'")
    try:
        _write(root, "tms/carriers/dt=2026-11-02/carriers-20261102.csv",
               f"{TMS_CARRIERS}\nC2,Carrier Two,ABCDEFG,AIR,2026-11-02T10:00:00Z\n")
        report = load(database, str(root), sources=["tms"])
        assert report.exit_code == EXIT_OK, report.summary()
        assert [(d["column"], d["type"]) for d in report.drift] == [("scac", "varchar(8)")]
        assert query(database, "select scac from stg.carriers order by 1") == [("ABCD",), ("ABCDEFG",)]
        assert query(database, "select n, top from stg.carrier_count") == [(2, "ABCDEFG")]
        assert query(database, "select obj_description('stg.carriers'::regclass), "
                               "col_description('stg.carriers'::regclass, 2), "
                               "has_table_privilege('test_reader_widen', 'stg.carriers', 'select'), "
                               "(select reloptions from pg_class where oid = 'stg.carriers'::regclass)") == \
            [("One row per carrier version", "The carrier code", True, ["security_barrier=true"])]

        # a view that cannot take the wider type: the file is quarantined, the table and the view unchanged
        execute(database, "create view stg.scac_sum as select sum(length(scac)) as n from raw_tms.carriers "
                          "where scac < 'ZZZZZZZZ'::varchar(8)")
        execute(database, "create view stg.bad as select scac::varchar(8)::int as broken from raw_tms.carriers "
                          "where false")
        _write(root, "tms/carriers/dt=2026-11-03/carriers-20261103.csv",
               f"{TMS_CARRIERS}\nC3,Carrier Three,ABCDEFGHIJKLMNOPQ,AIR,2026-11-03T10:00:00Z\n")
        report = load(database, str(root), sources=["tms"])
        assert report.exit_code == EXIT_OK, report.summary()  # varchar -> varchar: every view takes it
        assert [(d["column"], d["type"]) for d in report.drift] == [("scac", "varchar(17)")]
    finally:
        execute(database, "drop schema stg cascade; drop role test_reader_widen")


def test_set_up_widens_a_raw_column_the_contract_has_widened(database, tmp_path):
    root = tmp_path / "landing"
    _write(root, "tms/carriers/dt=2026-11-01/carriers-20261101.csv",
           f"{TMS_CARRIERS}\nC1,Carrier One,ABCD,ROAD,2026-11-01T10:00:00Z\n")
    assert load(database, str(root), sources=["tms"]).exit_code == EXIT_OK
    # a table created by an older contract (carrier_name varchar(100); today varchar(256)), read by a view
    execute(database, "alter table raw_tms.carriers alter column carrier_name type varchar(100); "
                      "create view public.carrier_names as select carrier_name from raw_tms.carriers")
    report = load(database, str(root), sources=["tms"])
    assert report.exit_code == EXIT_OK and report.new == 0
    assert query(database, "select format_type(atttypid, atttypmod) from pg_attribute where attrelid = "
                           "'raw_tms.carriers'::regclass and attname = 'carrier_name'") == [("character varying(256)",)]
    assert query(database, "select * from public.carrier_names") == [("Carrier One",)]


# ------------------------------------------------------------------------------------------ item 2: damage
def test_a_cut_last_record_and_an_unknown_dms_op_quarantine_the_file(database, tmp_path):
    root = tmp_path / "landing"
    # TMS extract cut inside its last value ("IN_TRANS"): no final line break, so never loaded
    _write(root, "tms/shipments/dt=2026-11-02/shipments-20261102.csv",
           f"{TMS_SHIPMENTS}\nS1,SO-1,LHR1,C7,LTL,T1,2026-11-02T09:00:00Z,,,IN_TRANSIT,1.5,12.34,GBP,"
           "2026-11-02T10:00:00Z\nS2,SO-2,LHR1,C7,LTL,T2,2026-11-02T09:00:00Z,,,IN_TRANS")
    # DMS: an Op "X" on the third record (line 4)
    _write(root, "dms/azureware/dbo/Orders/20261102-100000000.csv",
           DMS_ORDERS + "\n" + _order("I", 1) + _order("U", 1) + _order("X", 2))
    # DMS file cut right after a line break inside a quoted address: the quote never closes
    _write(root, "dms/azureware/dbo/Orders/20261102-110000000.csv",
           DMS_ORDERS + "\n" + _order("I", 3) + 'I,2026-11-02 10:00:00.000000,4,SO-4,1,1,B2C,STANDARD,'
           '2026-11-01 08:00:00.000000,2026-11-02 08:00:00.000000,2026-11-04,NEW,NULL,"Johann Doe","Street 1\n')
    # and a good DMS file beside them
    _write(root, "dms/azureware/dbo/Orders/20261102-120000000.csv", DMS_ORDERS + "\n" + _order("D", 5))
    report = load(database, str(root))
    assert report.exit_code == EXIT_QUARANTINED
    assert {q.key: (q.reason, q.line) for q in report.quarantined} == {
        "tms/shipments/dt=2026-11-02/shipments-20261102.csv":
            ("truncated: the last record has no line break (the file was cut short)", 3),
        "dms/azureware/dbo/Orders/20261102-100000000.csv": ("column op: a DMS operation other than I, U or D", 4),
        "dms/azureware/dbo/Orders/20261102-110000000.csv":
            ("malformed CSV: a quoted value is never closed (truncated or corrupt file)", 3),
    }
    assert query(database, "select _source_key, orderid, op from raw_azureware.orders") == \
        [("dms/azureware/dbo/Orders/20261102-120000000.csv", 5, "D")]
    assert query(database, "select count(*) from raw_tms.shipments") == [(0,)]
    _assert_no_value_in(q.reason for q in report.quarantined)


def test_a_file_still_being_written_waits_and_a_quiet_one_loads_after_the_quiet_period(database, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.setenv("UNIFY_LOAD_QUIET_S", "1.5")
    root = tmp_path / "landing"
    old = time.time() - 60
    _write(root, "tms/carriers/dt=2026-11-01/carriers-20261101.csv",
           f"{TMS_CARRIERS}\nC1,Carrier One,ABCD,ROAD,2026-11-01T10:00:00Z\n", mtime=old)
    _write(root, "tms/carriers/dt=2026-11-02/carriers-20261102.csv",  # just written, then left alone
           f"{TMS_CARRIERS}\nC2,Carrier Two,EFGH,AIR,2026-11-02T10:00:00Z\n")
    growing = _write(root, "tms/shipments/dt=2026-11-02/shipments-20261102.csv", f"{TMS_SHIPMENTS}\n")
    stop = threading.Event()

    def keep_writing():  # another process appending records, one every 0.2 s
        n = 0
        while not stop.is_set():
            n += 1
            with growing.open("ab") as handle:
                handle.write(f"S{n},SO-{n},LHR1,C1,LTL,T{n},2026-11-02T09:00:00Z,,,IN_TRANSIT,1.5,1.00,GBP,"
                             "2026-11-02T10:00:00Z\n".encode())
            time.sleep(0.2)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        started = time.monotonic()
        report = load(database, str(root), sources=["tms"])
        seconds = time.monotonic() - started
    finally:
        stop.set()
        writer.join()
    assert report.exit_code == EXIT_OK, report.summary()
    loaded = {k for k, _e, s, *_ in ledger(database) if s == "loaded"}
    assert loaded == {"tms/carriers/dt=2026-11-01/carriers-20261101.csv",
                      "tms/carriers/dt=2026-11-02/carriers-20261102.csv"}  # the quiet one, after waiting
    assert seconds >= 1.0  # it waited for the fresh files to be quiet
    assert [(d.key, d.reason) for d in report.deferred] == [
        ("tms/shipments/dt=2026-11-02/shipments-20261102.csv",
         "still being written (its size or modification time changed since discovery)")]
    assert "left for the next run: tms/shipments/" in report.summary()
    # once the writer has stopped and the file has been quiet, the next run loads all of it
    os.utime(growing, (time.time() - 60, time.time() - 60))
    again = load(database, str(root), sources=["tms"])
    assert again.exit_code == EXIT_OK and again.files == 1
    records = growing.read_bytes().count(b"\n") - 1
    assert query(database, "select count(*) from raw_tms.shipments") == [(records,)]


def test_a_file_changed_during_its_copy_is_rolled_back_and_left_for_the_next_run(database, tmp_path):
    root = tmp_path / "landing"
    path = _write(root, "tms/carriers/dt=2026-11-01/carriers-20261101.csv",
                  f"{TMS_CARRIERS}\nC1,Carrier One,ABCD,ROAD,2026-11-01T10:00:00Z\n", mtime=time.time() - 60)

    def hook(step):
        if step == "during_copy" and path.stat().st_size < 100:  # the source appends while the loader streams
            with path.open("ab") as handle:
                handle.write(b"C2,Carrier Two,EFGH,AIR,2026-11-01T10:00:00Z\n")

    report = load(database, str(root), sources=["tms"], step_hook=hook)
    assert report.exit_code == EXIT_OK and report.files == 0
    assert [d.key for d in report.deferred] == ["tms/carriers/dt=2026-11-01/carriers-20261101.csv"]
    assert ledger(database) == [] and query(database, "select count(*) from raw_tms.carriers") == [(0,)]
    os.utime(path, (time.time() - 60, time.time() - 60))
    assert load(database, str(root), sources=["tms"]).rows == 2


def test_symbolic_links_out_of_the_zone_are_refused_and_dangling_ones_reported(database, tmp_path):
    root = tmp_path / "landing"
    outside = tmp_path / "elsewhere" / "secret.csv"
    outside.parent.mkdir()
    outside.write_text(f"{TMS_CARRIERS}\nC9,Outside,ABCD,ROAD,2026-11-01T10:00:00Z\n")
    inside = _write(root, "tms/carriers/dt=2026-11-01/carriers-20261101.csv",
                    f"{TMS_CARRIERS}\nC1,Carrier One,ABCD,ROAD,2026-11-01T10:00:00Z\n")
    day2 = root / "tms/carriers/dt=2026-11-02"
    day2.mkdir(parents=True)
    (day2 / "carriers-20261102.csv").symlink_to(outside)  # out of the zone: refused, never read
    (day2 / "carriers-20261103.csv").symlink_to(root / "tms/carriers/dt=2026-11-09/gone.csv")  # dangling
    day3 = root / "tms/carriers/dt=2026-11-03"
    day3.mkdir(parents=True)
    (day3 / "carriers-20261103.csv").symlink_to(inside)  # inside the zone: a file like any other
    (root / "tms/shipments").mkdir(parents=True)
    (root / "tms/shipments/dt=2026-11-04").symlink_to(outside.parent, target_is_directory=True)
    report = load(database, str(root), sources=["tms"])
    assert report.exit_code == EXIT_QUARANTINED
    assert [(q.key, q.reason) for q in report.quarantined] == [
        ("tms/carriers/dt=2026-11-02/carriers-20261102.csv",
         "symbolic link to a file outside the landing zone: refused")]
    assert sorted((d.key, d.reason) for d in report.deferred) == [
        ("tms/carriers/dt=2026-11-02/carriers-20261103.csv", "dangling symbolic link (its target does not exist)"),
        ("tms/shipments/dt=2026-11-04", "symbolic link to a folder outside the landing zone: not followed")]
    assert query(database, "select carrier_name from raw_tms.carriers order by _source_key") == \
        [("Carrier One",), ("Carrier One",)]
    assert "Outside" not in str(query(database, "select * from unify_loader.load_ledger"))
    # the refusal is recorded once: the next run reports it as quarantined before, writes nothing
    again = load(database, str(root), sources=["tms"])
    assert again.new == 0 and [e.key for e in again.previously_quarantined] == [
        "tms/carriers/dt=2026-11-02/carriers-20261102.csv"]
    assert query(database, "select count(*) from unify_loader.load_ledger where status = 'quarantined'") == [(1,)]


def test_a_file_that_vanishes_after_discovery_is_skipped_with_a_warning_and_the_run_goes_on(database, tmp_path):
    root = tmp_path / "landing"
    first = _write(root, "tms/carriers/dt=2026-11-01/carriers-20261101.csv",
                   f"{TMS_CARRIERS}\nC1,Carrier One,ABCD,ROAD,2026-11-01T10:00:00Z\n")
    _write(root, "tms/carriers/dt=2026-11-02/carriers-20261102.csv",
           f"{TMS_CARRIERS}\nC2,Carrier Two,ABCD,ROAD,2026-11-02T10:00:00Z\n")
    _write(root, "tms/shipments/dt=2026-11-02/shipments-20261102.csv",
           f"{TMS_SHIPMENTS}\nS1,SO-1,LHR1,C7,LTL,T1,2026-11-02T09:00:00Z,,,IN_TRANSIT,1.5,12.34,GBP,"
           "2026-11-02T10:00:00Z\n")

    def hook(step):
        if step == "before_copy" and first.exists():  # deleted once listed, inspected and planned
            first.unlink()

    report = load(database, str(root), sources=["tms"], step_hook=hook)
    assert report.exit_code == EXIT_OK, report.summary()
    assert [(d.key, d.reason) for d in report.deferred] == [
        ("tms/carriers/dt=2026-11-01/carriers-20261101.csv", "disappeared before it could be loaded")]
    assert {k for k, *_ in ledger(database)} == {"tms/carriers/dt=2026-11-02/carriers-20261102.csv",
                                                "tms/shipments/dt=2026-11-02/shipments-20261102.csv"}
    assert "left for the next run: tms/carriers/dt=2026-11-01/carriers-20261101.csv: disappeared" in report.summary()


def test_a_landing_zone_that_does_not_exist_is_an_error_never_nothing_new(database, tmp_path):
    result = unify_load(database, "--landing", str(tmp_path / "landnig"))
    assert result.returncode == EXIT_FAILED
    assert f"landing zone {tmp_path / 'landnig'} does not exist: check --landing or UNIFY_LANDING" in result.stdout
    assert "all loaded" not in result.stdout


def test_unknown_bucket_or_prefix_is_an_error(database, s3_bucket):
    import boto3

    boto3.client("s3").put_object(Bucket=s3_bucket, Key="raw/tms/carriers/dt=2026-11-01/carriers-20261101.csv",
                                  Body=f"{TMS_CARRIERS}\nC1,Carrier One,ABCD,ROAD,2026-11-01T10:00:00Z\n".encode())
    no_bucket = load(database, f"s3://{s3_bucket}-typo/raw")
    assert no_bucket.exit_code == EXIT_FAILED and f"bucket {s3_bucket}-typo does not exist" in no_bucket.error
    no_prefix = load(database, f"s3://{s3_bucket}/rwa")
    assert no_prefix.exit_code == EXIT_FAILED and "no object under the prefix rwa/" in no_prefix.error
    assert load(database, f"s3://{s3_bucket}/raw", config=LoaderConfig(quiet_s=0)).files == 1


# ------------------------------------------------------------------------------------------ item 5: reasons
def test_reasons_name_line_column_and_kind_never_a_value_and_stay_short(database, tmp_path):
    root = tmp_path / "landing"
    # a customer's name where the integer ClientId belongs, and a header cell of 20 KB
    shifted = _order("I", 7).replace("SO-7,1,1,", "SO-7,Jane Q. Customer,1,")
    _write(root, "dms/azureware/dbo/Orders/20261102-100000000.csv", DMS_ORDERS + "\n" + _order("I", 6) + shifted)
    _write(root, "dms/azureware/dbo/Orders/20261102-110000000.csv",
           DMS_ORDERS.replace("CustomerName", "Jane Q. Customer " * 1200) + "\n" + _order("I", 8))
    # a JSON line that is not an object, holding an e-mail address
    _write(root, "appflow/salesforce/salesforce-user/exec-1/part-0", '["jane@example.com", "Johann Doe"]\n')
    # a single record over 4 MB (Redshift's limit for one row), in a file that otherwise looks fine
    _write(root, "tms/carriers/dt=2026-11-02/carriers-20261102.csv",
           f"{TMS_CARRIERS}\nC1,{'Johann Doe ' * 500_000},ABCD,ROAD,2026-11-02T10:00:00Z\n")
    report = load(database, str(root))
    assert {q.key: (q.reason, q.line) for q in report.quarantined} == {
        "dms/azureware/dbo/Orders/20261102-100000000.csv": ("column clientid: not a valid integer", 3),
        "dms/azureware/dbo/Orders/20261102-110000000.csv":
            ("column 14 of the header is not a plain identifier (letters, digits, _ and $, at most 63 characters; "
             "it has 20,399); refusing to load it", 1),
        "appflow/salesforce/salesforce-user/exec-1/part-0":
            ("malformed JSON Lines: a line holds a JSON list, not an object", 1),
        "tms/carriers/dt=2026-11-02/carriers-20261102.csv": ("record too large: over 4 MB", 2),
    }, report.summary()
    _assert_no_value_in([q.reason for q in report.quarantined] + [r for (r,) in query(
        database, "select reason from unify_loader.load_ledger")])
    assert max(len(q.reason) for q in report.quarantined) <= 240
