"""Loader bugs an independent probe found, each on files written here by hand in the documented layout and
formats (SOURCE_FORMATS.md): a mistyped --landing or --key that "loaded 0 files" with exit code 0; files
quarantined for their path recorded again on every run; a TMS extract that quotes every field (RFC 4180),
whose quoted empty fields were not NULL; an AppFlow field in another case than the known field ("name")
refused as colliding with the known field no record mentioned; a JSON-escaped NUL called "not valid UTF-8";
AppFlow datetimes with a zone offset and zoned Parquet timestamps loaded with the offset dropped; TMS
timestamps with a zone offset (ISO 8601 allows one; the TMS promises UTC) loaded as their wall time.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

from _load_helpers import ledger, query, unify_load

from loaders.landing import LocalLanding
from loaders.load import EXIT_FAILED, EXIT_OK, EXIT_QUARANTINED, load
from loaders.sources import Layout, identify
from loaders.sources import dms, tms

CARRIERS = "tms/carriers/dt=2026-11-02/carriers-20261102.csv"
CARRIERS_CSV = "carrier_id,carrier_name,scac,mode,updated_at\nC7,Kestrel Haulage,KHLT,ROAD,2026-11-02T06:00:00Z\n"
DMS_ORDERS_HEADER = ("Op,dms_commit_ts,OrderId,OrderNumber,ClientId,WarehouseId,OrderType,Priority,CreatedAt,"
                     "RequiredShipBy,PromisedDeliveryDate,Status,ShippedAt,CustomerName,DestinationAddress,"
                     "DestinationPostcode,DestinationCountry,ModifiedAt,dms_change_seq")
# DMS: "" is an empty string, only the unquoted NULL marker is NULL (ShippedAt)
DMS_ORDER_EMPTY_NAME = ('I,2026-11-02 10:00:00.000000,7,SO-7,1,1,B2C,STANDARD,2026-11-01 08:00:00.000000,'
                        '2026-11-02 08:00:00.000000,2026-11-04,NEW,NULL,"","",AB1,GB,2026-11-02 10:00:00.000000,7\n')
SHIPMENTS_HEADER = ("shipment_id,order_number,warehouse_code,carrier_id,service_level,tracking_number,shipped_at,"
                    "estimated_delivery_at,delivered_at,status,weight_kg,freight_cost,currency,updated_at")


def _write(root: Path, key: str, text: str) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


# ------------------------------------------------------------------------------- 1: a mistyped --landing
def test_an_empty_folder_as_landing_zone_fails_naming_the_folder_and_the_prefixes(database, tmp_path):
    empty = tmp_path / "landing"
    empty.mkdir()
    result = unify_load(database, "--landing", str(empty))
    assert result.returncode == EXIT_FAILED, result.stdout + result.stderr
    assert (f"landing zone {empty} holds none of the sources' prefixes (dms/azureware/, appflow/salesforce/, tms/)"
            in result.stdout), result.stdout
    assert "all loaded" not in result.stdout


def test_a_folder_one_level_too_deep_fails_although_it_holds_files(database, tmp_path):
    root = tmp_path / "landing"
    _write(root, CARRIERS, CARRIERS_CSV)
    too_deep = root / "tms"  # holds carriers/dt=.../carriers-....csv, but no source prefix
    report = load(database, str(too_deep))
    assert report.exit_code == EXIT_FAILED and report.files == 0
    assert f"landing zone {too_deep} holds none of the sources' prefixes" in report.error
    assert query(database, "select to_regclass('unify_loader.load_ledger')")[0][0] is None  # nothing written


def test_prefixes_that_exist_but_hold_nothing_new_are_a_quiet_run(database, tmp_path):
    root = tmp_path / "landing"
    for prefix in ("dms/azureware", "appflow/salesforce", "tms"):
        (root / prefix).mkdir(parents=True)
    quiet = load(database, str(root))
    assert quiet.exit_code == EXIT_OK and quiet.files == 0 and quiet.absent_prefixes == [], quiet.summary()
    _write(root, CARRIERS, CARRIERS_CSV)
    assert load(database, str(root)).files == 1
    again = load(database, str(root))
    assert again.exit_code == EXIT_OK and again.new == 0 and again.files == 0, again.summary()


def test_a_selected_source_whose_prefix_is_absent_says_so(database, tmp_path):
    root = tmp_path / "landing"
    _write(root, CARRIERS, CARRIERS_CSV)
    only_dms = load(database, str(root), sources=["azureware"])
    assert only_dms.exit_code == EXIT_FAILED
    assert f"landing zone {root} holds none of the prefix of source azureware (dms/azureware/)" in only_dms.error
    assert "--source" in only_dms.error
    # with another selected source present, the run goes on and names the absent prefix
    both = load(database, str(root), sources=["azureware", "tms"])
    assert both.exit_code == EXIT_OK and both.files == 1 and both.absent_prefixes == ["dms/azureware/"]
    assert "no dms/azureware/ prefix in the landing zone: nothing from that source" in both.summary()


def test_a_key_that_names_no_object_fails_naming_the_key(database, tmp_path):
    root = tmp_path / "landing"
    _write(root, CARRIERS, CARRIERS_CSV)
    missing = unify_load(database, "--landing", str(root), "--key", "tms/carriers/dt=2026-11-02/nope.csv")
    assert missing.returncode == EXIT_FAILED, missing.stdout + missing.stderr
    assert f"key tms/carriers/dt=2026-11-02/nope.csv: no such object in the landing zone {root}" in missing.stdout
    outside = unify_load(database, "--landing", str(root), "--key", "does/not/exist.csv")
    assert outside.returncode == EXIT_FAILED
    assert "key does/not/exist.csv: outside the selected sources' prefixes" in outside.stdout
    # the same keys from S3 events (the Lambda): an object gone since its event is nothing to load
    events = load(database, str(root), keys=["tms/carriers/dt=2026-11-02/nope.csv", "does/not/exist.csv", CARRIERS],
                  keys_from_events=True)
    assert events.exit_code == EXIT_OK and events.files == 1


# --------------------------------------------------------------- 2: a path quarantine is decided once
def test_a_file_quarantined_for_its_path_is_recorded_once_however_many_runs(database, tmp_path):
    root = tmp_path / "landing"
    unknown = "tms/returns/dt=2026-11-06/returns-20261106.csv"
    bad_dt = "tms/carriers/dt=2026-13-01/carriers-20261301.csv"
    backup = "tms/carriers/dt=2026-11-02/carriers-20261102.csv.bak"
    _write(root, unknown, "return_id,updated_at\nR1,2026-11-06T10:00:00Z\n")
    _write(root, bad_dt, CARRIERS_CSV)
    _write(root, backup, CARRIERS_CSV)
    _write(root, CARRIERS, CARRIERS_CSV)
    first = load(database, str(root))
    assert first.exit_code == EXIT_QUARANTINED and first.files == 1
    assert sorted(q.key for q in first.quarantined) == sorted([unknown, bad_dt, backup])
    for _ in range(2):
        later = load(database, str(root))
        assert later.exit_code == EXIT_OK, later.summary()
        assert later.new == 0 and later.quarantined == []
        assert sorted(e.key for e in later.previously_quarantined) == sorted([unknown, bad_dt, backup])
    rows = ledger(database)
    assert sorted(k for k, *_ in rows) == sorted([CARRIERS, unknown, bad_dt, backup])  # one row per object
    checksums = query(database, "select object_key, content_checksum from unify_loader.load_ledger")
    assert all(c and c.startswith("crc64nvme:") for _, c in checksums)
    # new bytes under the same key are a new decision (quarantined again: the path is still unknown)
    _write(root, unknown, "return_id,updated_at\nR2,2026-11-07T10:00:00Z\n")
    changed = load(database, str(root))
    assert changed.exit_code == EXIT_QUARANTINED and [q.key for q in changed.quarantined] == [unknown]
    assert len([k for k, *_ in ledger(database) if k == unknown]) == 2


# ------------------------------------------------------- 3: a TMS extract that quotes every field
QUOTED_SHIPMENTS = (
    SHIPMENTS_HEADER + "\n"
    + '"S1","SO-1","LHR1","C7","LTL","T1","2026-11-02T09:00:00Z","","","IN_TRANSIT","1.5","12.34","GBP",'
      '"2026-11-02T10:00:00Z"\n'
    + '"S2","SO-2","LHR1","C7","","","2026-11-02T09:30:00Z","2026-11-04T12:00:00Z","2026-11-03T08:00:00Z",'
      '"DELIVERED","","","GBP","2026-11-03T08:00:00Z"\n')


def test_quoted_empty_tms_fields_are_null_in_postgres_and_dms_keeps_empty_strings(database, tmp_path):
    root = tmp_path / "landing"
    _write(root, "tms/shipments/dt=2026-11-02/shipments-20261102.csv", QUOTED_SHIPMENTS)
    _write(root, "dms/azureware/dbo/Orders/20261102-100000000.csv", DMS_ORDERS_HEADER + "\n" + DMS_ORDER_EMPTY_NAME)
    report = load(database, str(root))
    assert report.exit_code == EXIT_OK and report.rows == 3, report.summary()
    assert query(database, "select customername, destinationaddress, shippedat from raw_azureware.orders") == [
        ("", "", None)]
    rows = query(database, "select shipment_id, estimated_delivery_at, delivered_at, service_level, "
                           "tracking_number, weight_kg, freight_cost from raw_tms.shipments order by shipment_id")
    assert [(r[0], r[1], r[2]) for r in rows] == [("S1", None, None),
                                                 ("S2", rows[1][1], rows[1][2])]
    assert rows[1][1] is not None and rows[1][2] is not None
    assert rows[1][3:] == (None, None, None, None)  # quoted "" in text and numeric columns: NULL too


def _read(root: Path, key: str, source) -> list[dict]:
    zone = LocalLanding(root)
    sf = identify(zone.stat(key), Layout())
    info = source.inspect(zone, sf)
    return [row for batch in source.record_batches(zone, sf, info) for row in batch.to_pylist()]


def test_quoted_empty_is_null_for_tms_records_but_an_empty_string_for_dms(tmp_path):
    """The records the Redshift bulk path stages (and PostgreSQL's non-landed path): TMS `""` is NULL; DMS
    keeps `""` an empty string and only its unquoted NULL marker is NULL (SOURCE_FORMATS.md)."""
    _write(tmp_path, "tms/shipments/dt=2026-11-02/shipments-20261102.csv", QUOTED_SHIPMENTS)
    rows = _read(tmp_path, "tms/shipments/dt=2026-11-02/shipments-20261102.csv", tms)
    assert [(r["estimated_delivery_at"], r["delivered_at"]) for r in rows] == [
        (None, None), ("2026-11-04T12:00:00Z", "2026-11-03T08:00:00Z")]
    assert (rows[1]["service_level"], rows[1]["weight_kg"]) == (None, None)
    key = "dms/azureware/dbo/Orders/20261102-100000000.csv"
    _write(tmp_path, key, DMS_ORDERS_HEADER + "\n" + DMS_ORDER_EMPTY_NAME)
    rows = _read(tmp_path, key, dms)
    assert (rows[0]["CustomerName"], rows[0]["DestinationAddress"], rows[0]["ShippedAt"]) == ("", "", None)


# -------------------------------------- 4: AppFlow fields in another case, a NUL escaped in JSON (a probe)
def _account(**fields) -> str:
    record = {"Id": "0018d0000000A13AAU", "IsDeleted": False, "CreatedDate": "2025-04-14T18:19:48.000Z",
              "LastModifiedDate": "2026-02-27T13:16:06.000Z", "SystemModstamp": "2026-02-27T13:16:06.000Z",
              "Name": "Acct 13", "Type": "Customer", "OwnerId": "0058d00000000mRAAQ", "WMS_Client_Code__c": "X13",
              "CurrencyIsoCode": "USD"}
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not ...}) + "\n"


def test_an_appflow_field_spelled_in_another_case_loads_into_its_column(database, tmp_path):
    # Salesforce field names are case-insensitive: "name" is the raw column name, as Redshift's COPY
    # 'auto ignorecase' maps it; the known field "Name", mentioned by no record, no longer collides with it
    root = tmp_path / "landing"
    key = "appflow/salesforce/salesforce-account/exec-8/part-0000"
    lowered = json.loads(_account(Name=...))
    _write(root, key, json.dumps({**lowered, "name": "Acct 13 lower"}) + "\n"
           + _account(Id="0018d0000000A14AAU", Name=..., name="Acct 14"))
    report = load(database, str(root))
    assert report.exit_code == EXIT_OK and report.rows == 2, report.summary()
    assert query(database, "select id, name from raw_salesforce.accounts order by id") == [
        ("0018d0000000A13AAU", "Acct 13 lower"), ("0018d0000000A14AAU", "Acct 14")]
    # both spellings in one file are still two fields for one column: refused, naming them
    both = "appflow/salesforce/salesforce-account/exec-9/part-0000"
    _write(root, both, _account(name="Acct 13 again"))
    again = load(database, str(root))
    assert [(q.key, q.reason) for q in again.quarantined] == [
        (both, "columns 'Name' and 'name' are the same raw column 'name'")]


def test_a_nul_character_escaped_in_json_is_named_as_such(database, tmp_path):
    root = tmp_path / "landing"
    key = "appflow/salesforce/salesforce-account/exec-1/part-0000"
    _write(root, key, _account(Name="Acct\u000013"))  # valid UTF-8: the JSON escape \u0000
    report = load(database, str(root))
    # (it was called "not valid UTF-8"; PostgreSQL's error names no column, the record is the file's line 1)
    assert [(q.key, q.reason, q.line) for q in report.quarantined] == [
        (key, "a NUL character, which no text value can hold (corrupt file)", 1)]


# ------------------------------------- 5: datetimes with a zone offset, loaded as if they were UTC (a probe)
def test_appflow_datetimes_with_an_offset_load_as_the_utc_time_they_mean(database, tmp_path):
    root = tmp_path / "landing"
    key = "appflow/salesforce/salesforce-account/exec-2/part-0000"
    _write(root, key, _account(SystemModstamp="2026-02-27T13:16:06.000+0200",
                               LastModifiedDate="2026-02-27T13:16:06+00:00")
           + _account(Id="0018d0000000A14AAU", SystemModstamp="2026-02-27T23:16:06.5-05:00")
           + _account(Id="0018d0000000A15AAU"))  # ...Z, as AppFlow writes them
    # the field in another case (the same raw column) is converted too
    _write(root, key.replace("exec-2", "exec-3"),
           _account(Id="0018d0000000A16AAU", SystemModstamp=..., systemmodstamp="2026-02-27T13:16:06.000+0200"))
    report = load(database, str(root))
    assert report.exit_code == EXIT_OK and report.rows == 4, report.summary()
    assert query(database, "select id, systemmodstamp::text, lastmodifieddate::text from raw_salesforce.accounts "
                           "order by id") == [
        ("0018d0000000A13AAU", "2026-02-27 11:16:06", "2026-02-27 13:16:06"),
        ("0018d0000000A14AAU", "2026-02-28 04:16:06.5", "2026-02-27 13:16:06"),
        ("0018d0000000A15AAU", "2026-02-27 13:16:06", "2026-02-27 13:16:06"),
        ("0018d0000000A16AAU", "2026-02-27 11:16:06", "2026-02-27 13:16:06")]


def test_a_parquet_timestamp_with_a_time_zone_loads_as_utc(database, tmp_path):
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    root = tmp_path / "landing"
    csv_text = DMS_ORDERS_HEADER + "\n" + DMS_ORDER_EMPTY_NAME
    table = pacsv.read_csv(pa.py_buffer(csv_text.encode()),
                           convert_options=pacsv.ConvertOptions(
                               column_types={n: pa.string() for n in DMS_ORDERS_HEADER.split(",")},
                               null_values=["NULL"], strings_can_be_null=True))  # Parquet has real nulls
    berlin = pa.array([1793786400_000000], pa.timestamp("us", "UTC")).cast(pa.timestamp("us", "Europe/Berlin"))
    table = table.set_column(table.column_names.index("ModifiedAt"), "ModifiedAt", berlin)  # 2026-11-04 10:00 UTC
    key = "dms/azureware/dbo/Orders/20261102-100000000.parquet"
    (root / key).parent.mkdir(parents=True)
    pq.write_table(table, root / key)
    report = load(database, str(root))
    assert report.exit_code == EXIT_OK and report.rows == 1, report.summary()
    assert query(database, "select modifiedat::text from raw_azureware.orders") == [("2026-11-04 10:00:00",)]


# ----------------------------------- 6: TMS timestamps with a zone offset, loaded as their wall time (a probe)
def _shipment(shipment_id: str, shipped_at: str, tracking: str = "T1") -> str:
    return (f"{shipment_id},SO-1,LHR1,C7,LTL,{tracking},{shipped_at},,,IN_TRANSIT,1.5,12.34,GBP,"
            "2026-11-02T10:00:00Z\n")


def test_tms_timestamps_with_a_zone_offset_load_as_the_utc_time_they_mean(database, tmp_path):
    root = tmp_path / "landing"
    zoned = "tms/shipments/dt=2026-11-02/shipments-20261102.csv"
    _write(root, zoned, SHIPMENTS_HEADER + "\n"
           + _shipment("S1", "2026-11-02T06:00:00Z")
           + _shipment("S2", "2026-11-02T08:00:00+02:00")
           + _shipment("S3", "2026-11-02 01:00:00-0500")
           + _shipment("S4", "2026-11-02T06:00:00.25+00:00")
           + _shipment("S5", "2026-11-02T11:30:00 +05:30")
           + _shipment("S6", "2026-11-02T06:00:00", tracking='"a note: 10:15-12, not a time zone"'))
    # a plain file whose only look-alike of an offset is in a text field loads the same way
    plain = "tms/shipments/dt=2026-11-03/shipments-20261103.csv"
    _write(root, plain, SHIPMENTS_HEADER + "\n" + _shipment("S7", "2026-11-03T06:00:00", tracking="10:15+02"))
    report = load(database, str(root))
    assert report.exit_code == EXIT_OK and report.rows == 7, report.summary()
    assert query(database, "select shipment_id, shipped_at::text, updated_at::text, _source_row "
                           "from raw_tms.shipments order by shipment_id") == [
        ("S1", "2026-11-02 06:00:00", "2026-11-02 10:00:00", 1),
        ("S2", "2026-11-02 06:00:00", "2026-11-02 10:00:00", 2),
        ("S3", "2026-11-02 06:00:00", "2026-11-02 10:00:00", 3),
        ("S4", "2026-11-02 06:00:00.25", "2026-11-02 10:00:00", 4),
        ("S5", "2026-11-02 06:00:00", "2026-11-02 10:00:00", 5),
        ("S6", "2026-11-02 06:00:00", "2026-11-02 10:00:00", 6),
        ("S7", "2026-11-03 06:00:00", "2026-11-02 10:00:00", 1)]
    # the checksums are the files' bytes, whichever way they were read
    assert {k: c for k, _e, c in query(database, "select object_key, etag, content_checksum "
                                                 "from unify_loader.load_ledger")} == {
        zoned: LocalLanding(str(root)).checksum(zoned), plain: LocalLanding(str(root)).checksum(plain)}


def test_tms_timestamps_in_the_basic_format_or_with_a_comma_fraction_convert_too(database, tmp_path):
    """ISO 8601's basic format (`20261102T080000+0200`) and a comma before the fraction (found by a probe:
    the offset was dropped, the time loaded two hours off)."""
    root = tmp_path / "landing"
    # each file on its own: one zoned value sends its whole file through pyarrow
    _write(root, "tms/shipments/dt=2026-11-02/shipments-20261102.csv", SHIPMENTS_HEADER + "\n"
           + _shipment("S1", "20261102T080000+0200")
           + _shipment("S4", "20261102T060000Z", tracking="1Z438C24T7210AA8CE"))
    _write(root, "tms/shipments/dt=2026-11-03/shipments-20261103.csv", SHIPMENTS_HEADER + "\n"
           + _shipment("S2", "2026-11-02T0800+0200"))
    _write(root, "tms/shipments/dt=2026-11-04/shipments-20261104.csv", SHIPMENTS_HEADER + "\n"
           + _shipment("S3", "\"2026-11-02T08:00:00,5+02:00\""))  # quoted: the comma
    report = load(database, str(root))
    assert report.exit_code == EXIT_OK and report.rows == 4, report.summary()
    assert query(database, "select shipment_id, shipped_at::text from raw_tms.shipments order by 1") == [
        ("S1", "2026-11-02 06:00:00"), ("S2", "2026-11-02 06:00:00"), ("S3", "2026-11-02 06:00:00.5"),
        ("S4", "2026-11-02 06:00:00")]


def test_a_comma_outside_quotes_is_no_fraction_so_look_alikes_across_two_fields_stream_as_landed(
        database, tmp_path, caplog):
    """A comma outside quotes ends a field: `...52T1935,2026-10-30T...` (a tracking number, then a date) and
    `...06:00:00,2026-11-04 ...` (a time without a zone, then the next timestamp) are not a time with a
    comma fraction and an offset. Found on the simulator's own shipments (four of the seven files at large
    scale held such a tracking number): those were read through pyarrow, right but slower than streamed.
    Inside quotes the comma is a decimal sign, and that file still goes through pyarrow."""
    root = tmp_path / "landing"
    plain = "tms/shipments/dt=2026-11-02/shipments-20261102.csv"
    _write(root, plain, SHIPMENTS_HEADER + "\n"
           + _shipment("S1", "2026-11-02T06:00:00Z", tracking="1ZKA1VWA4A952T1935")
           + "S2,SO-1,LHR1,C7,LTL,T1,2026-11-02 06:00:00,2026-11-04 21:00:00,,IN_TRANSIT,1.5,12.34,GBP,"
             "2026-11-02 10:00:00\n")
    zoned = "tms/shipments/dt=2026-11-03/shipments-20261103.csv"
    _write(root, zoned, SHIPMENTS_HEADER + "\n" + _shipment("S3", '"2026-11-02T08:00:00,5+02:00"'))
    with caplog.at_level(logging.INFO, logger="loaders.warehouse.postgres"):
        report = load(database, str(root))
    assert report.exit_code == EXIT_OK and report.rows == 3, report.summary()
    assert [r.f_key for r in caplog.records if getattr(r, "event", None) == "file_timestamps_via_pyarrow"] == [zoned]
    assert query(database, "select shipment_id, shipped_at::text, estimated_delivery_at::text, _source_row "
                           "from raw_tms.shipments order by 1") == [
        ("S1", "2026-11-02 06:00:00", None, 1), ("S2", "2026-11-02 06:00:00", "2026-11-04 21:00:00", 2),
        ("S3", "2026-11-02 06:00:00.5", None, 1)]


def test_the_fast_search_for_zoned_timestamps_finds_whatever_the_exact_one_finds():
    """The loader first searches each chunk with one RE2 expression and runs Python's exact searches only
    where it finds something: on random text made of timestamps' characters, and on the cases above, the
    fast search must find something wherever the exact one does (and not everywhere)."""
    from loaders.warehouse.postgres import _LandedCsv

    rng = random.Random(20261207)
    pieces = ("2026", "11", "02", "5", "0800", "080000", "1935", "-", "/", ".", ":", "T", " ", ",", '"', "\n", "x",
              "Z", "+02:00", "-0500", "+00:00", "+0005", "+24", "+25", "UTC", "GMT", "CET", "U", "G", "UT", "GM", "Zx",
              "UTCx", "GMTx", "utc", "1Z", "52T")
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) + "\n" for _ in range(20_000)]
    texts += [f"x,{value},y\n" for value in (
        "2026-11-02T08:00:00+02:00", "2026-11-02 01:00:00-0500", "2026-11-02T11:30:00 +05:30", "20261102T080000+0200",
        "2026-11-02T0800+0200", "2026-11-02T08:00:00,5+02:00", "2026-11-02 08:00:00 CET", "2026-11-02T08:00:00 GMTX",
        "2026-11-02T08:00:00 UTCx", "2026-11-02T08:00:00Zulu", "10:15 U", "02/11/2026 06:00:00", "11-02-2026", "2.11.26",
        "2026-11-02T06:00:00Z", "2026-11-02 06:00:00 UTC", "2026-11-02T06:00:00.25+00:00", "2026-11-02 06:00:00")]
    exact = [t for t in texts if any(r.search(t.encode()) for r in _LandedCsv.NOT_UTC_OR_NOT_ISO)]
    assert len(exact) > 1_000  # the random text is timestamp-like enough to test anything
    assert [t for t in exact if not _LandedCsv.maybe_names_a_zone(t.encode())] == []
    assert _LandedCsv.maybe_names_a_zone("x,2026-11-02T06:00:00Z,2026-11-02 06:00:00 UTC,1.5\n".encode()) is False
    assert sum(map(_LandedCsv.maybe_names_a_zone, (t.encode() for t in texts))) < len(texts) * 0.9


def test_a_tms_timestamp_with_a_zone_name_or_not_in_iso_8601_quarantines_its_file(database, tmp_path):
    """A zone name (`CET`) cannot be converted, and `02/11/2026` reads as 11 February or 2 November by the
    reader's date style: both were loaded (the zone dropped, the date as month/day). UTC by name loads."""
    root = tmp_path / "landing"
    cases = {"2026-11-02 08:00:00 CET": "a timestamp whose time zone cannot be read",
             "2026-11-02T08:00:00 Europe/Zurich": "a timestamp whose time zone cannot be read",
             "02/11/2026 06:00:00": "a value that is not an ISO 8601 timestamp",
             "11-02-2026 06:00:00": "a value that is not an ISO 8601 timestamp",
             "2.11.2026 06:00:00": "a value that is not an ISO 8601 timestamp"}
    keys = {}
    for n, value in enumerate(cases, start=2):
        keys[value] = f"tms/shipments/dt=2026-11-{n:02d}/shipments-202611{n:02d}.csv"
        _write(root, keys[value], SHIPMENTS_HEADER + "\n" + _shipment(f"S{n}", value))
    utc = "tms/shipments/dt=2026-11-19/shipments-20261119.csv"
    _write(root, utc, SHIPMENTS_HEADER + "\n" + _shipment("S9", "2026-11-09 06:00:00 UTC"))
    for dry_run in (True, False):
        report = load(database, str(root), dry_run=dry_run)
        assert report.exit_code == EXIT_QUARANTINED and report.rows == 1, report.summary()
        assert sorted((q.key, q.reason) for q in report.quarantined) == sorted(
            (keys[value], f"field shipped_at: {reason}") for value, reason in cases.items()), dry_run
    assert query(database, "select shipment_id, shipped_at::text from raw_tms.shipments") == [
        ("S9", "2026-11-09 06:00:00")]


def test_a_tms_offset_after_the_first_megabyte_and_across_a_chunk_boundary_is_found(database, tmp_path):
    """The loader streams a landed CSV in 1 MB chunks and looks for offsets chunk by chunk: a file whose
    only offset straddles the first chunk's end still loads that value as UTC."""
    root = tmp_path / "landing"
    key = "tms/shipments/dt=2026-11-02/shipments-20261102.csv"
    head = (SHIPMENTS_HEADER + "\n").encode()
    record = _shipment("S000000", "2026-11-02T06:00:00Z").encode()
    boundary = 1 << 20
    zoned = _shipment("SZ", "2026-11-02T08:00:00+02:00").encode()
    cut = zoned.index(b"+02:00") + 2  # the chunk ends inside the offset: `+0` | `2:00`
    filler = boundary - cut - len(head)
    count, rest = divmod(filler, len(record))
    records = [_shipment(f"S{n:06d}", "2026-11-02T06:00:00Z").encode() for n in range(count - 1)]
    # one last record padded (its tracking number) so that the zoned record starts exactly where it must
    records.append(_shipment(f"S{count - 1:06d}", "2026-11-02T06:00:00Z", tracking="T1" + "x" * rest).encode())
    data = head + b"".join(records) + zoned
    assert data[boundary - 2:boundary + 4] == b"+02:00"[:2] + b"2:00"[:4]
    path = root / key
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    report = load(database, str(root))
    assert report.exit_code == EXIT_OK and report.rows == count + 1, report.summary()
    assert query(database, "select shipped_at::text, _source_row from raw_tms.shipments "
                           "where shipment_id = 'SZ'") == [("2026-11-02 06:00:00", count + 1)]


def test_a_tms_offset_that_cannot_be_read_quarantines_its_file(database, tmp_path):
    root = tmp_path / "landing"
    key = "tms/shipments/dt=2026-11-02/shipments-20261102.csv"
    _write(root, key, SHIPMENTS_HEADER + "\n" + _shipment("S1", "2026-13-02T08:00:00+02:00"))
    report = load(database, str(root))
    assert report.exit_code == EXIT_QUARANTINED
    assert [(q.key, q.reason) for q in report.quarantined] == [
        (key, "field shipped_at: a timestamp whose time zone cannot be read")]


def test_an_appflow_parquet_file_of_text_values_converts_zone_offsets_too(database, tmp_path):
    """AppFlow writes Parquet with every value as text unless preserveSourceDataTyping (SOURCE_FORMATS.md)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path / "landing"
    key = "appflow/salesforce/salesforce-account/exec-4/part-0000"
    records = [json.loads(_account(SystemModstamp="2026-02-27T13:16:06.000+0200")),
               json.loads(_account(Id="0018d0000000A14AAU"))]
    text = pa.table({name: pa.array([str(r[name]).lower() if isinstance(r[name], bool) else r[name]
                                     for r in records], pa.string()) for name in records[0]})
    (root / key).parent.mkdir(parents=True)
    pq.write_table(text, root / key)
    report = load(database, str(root))
    assert report.exit_code == EXIT_OK and report.rows == 2, report.summary()
    assert query(database, "select id, systemmodstamp::text from raw_salesforce.accounts order by id") == [
        ("0018d0000000A13AAU", "2026-02-27 11:16:06"), ("0018d0000000A14AAU", "2026-02-27 13:16:06")]


# ------------------------------- 7: a stray quote (RFC 4180), read on through by PostgreSQL's COPY (a probe)
def _carriers(*rows: str, bom: bool = False) -> bytes:
    head = ("\ufeff" if bom else "") + '"carrier_id","carrier_name","scac","mode","updated_at"\n'
    return (head + "".join(r + "\n" for r in rows)).encode()


STRAY_QUOTES = {  # the record (line 2 of its file) and what PostgreSQL's COPY made of it
    "after-closing": 'C7,"Kestrel"x Haulage,KHLT,ROAD,2026-11-02T06:00:00Z',  # `Kestrelx Haulage`
    "not-doubled": 'C7,"Kestrel "the hauler" Ltd",KHLT,ROAD,2026-11-02T06:00:00Z',  # `Kestrel the hauler Ltd`
    "in-unquoted": 'C7,Kestrel 5"x,KHLT,ROAD,2026-11-02T06:00:00Z\nC8,Osprey",OSPY,ROAD,2026-11-02T06:00:00Z',
}


def test_a_stray_quote_quarantines_the_file_on_the_load_and_in_a_dry_run(database, tmp_path):
    root = tmp_path / "landing"
    keys = {}
    for n, (name, record) in enumerate(STRAY_QUOTES.items(), start=2):
        keys[name] = f"tms/carriers/dt=2026-11-{n:02d}/carriers-202611{n:02d}.csv"
        path = root / keys[name]
        path.parent.mkdir(parents=True)
        path.write_bytes(_carriers(record))
    expected = sorted((key, "malformed CSV: a quote between two other characters (RFC 4180: a quoted value "
                            "doubles its quotes, and an unquoted value holds none)", 2) for key in keys.values())
    for dry_run in (True, False):
        report = load(database, str(root), dry_run=dry_run)
        assert report.exit_code == EXIT_QUARANTINED, report.summary()
        assert sorted((q.key, q.reason, q.line) for q in report.quarantined) == expected, dry_run
    assert query(database, "select count(*) from raw_tms.carriers") == [(0,)]


def test_quotes_that_rfc_4180_allows_load_as_written(database, tmp_path):
    root = tmp_path / "landing"
    key = "tms/carriers/dt=2026-11-02/carriers-20261102.csv"
    path = root / key
    path.parent.mkdir(parents=True)
    path.write_bytes(_carriers('C1,"Kestrel ""the hauler"" Ltd",KHLT,ROAD,2026-11-02T06:00:00Z',
                               'C2,"""Quoted"", Haulage",KHLT,"ROAD",2026-11-02T06:00:00Z',
                               'C3,"two\nlines",KHLT,ROAD,2026-11-02T06:00:00Z',
                               '"C4","Kite","","ROAD","2026-11-02T06:00:00Z"', bom=True))
    report = load(database, str(root))
    assert report.exit_code == EXIT_OK and report.rows == 4, report.summary()
    assert query(database, "select carrier_id, carrier_name, scac from raw_tms.carriers order by 1") == [
        ("C1", 'Kestrel "the hauler" Ltd', "KHLT"), ("C2", '"Quoted", Haulage', "KHLT"), ("C3", "two\nlines", "KHLT"),
        ("C4", "Kite", None)]


def test_a_stray_quote_across_the_first_chunk_boundary_is_found(database, tmp_path):
    root = tmp_path / "landing"
    key = "tms/carriers/dt=2026-11-02/carriers-20261102.csv"
    head = _carriers()
    record = b"C1,Kestrel Haulage,KHLT,ROAD,2026-11-02T06:00:00Z\n"
    stray = b'C9,"Osprey"x,OSPY,ROAD,2026-11-02T06:00:00Z\n'
    cut = stray.index(b'"x')  # the first chunk ends just before the closing quote: `...Osprey` | `"x...`
    count, rest = divmod((1 << 20) - cut - len(head), len(record))
    padded = b"C1,Kestrel Haulage" + b"x" * rest + b",KHLT,ROAD,2026-11-02T06:00:00Z\n"
    data = head + record * (count - 1) + padded + stray
    assert data[(1 << 20) - 1:(1 << 20) + 2] == b'y"x'
    path = root / key
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    report = load(database, str(root))
    assert [(q.reason.split(" (")[0], q.line) for q in report.quarantined] == [
        ("malformed CSV: a quote between two other characters", count + 2)]


# ---------------------------------- 8: a padded header name, refused by the dry run only (a probe)
def test_a_header_name_padded_with_spaces_loads_the_same_in_a_dry_run(database, tmp_path):
    root = tmp_path / "landing"
    _write(root, CARRIERS, CARRIERS_CSV.replace("carrier_name,scac", " carrier_name , scac"))
    for dry_run in (True, False):
        report = load(database, str(root), dry_run=dry_run)
        assert report.exit_code == EXIT_OK and report.rows == 1, (dry_run, report.summary())
    assert query(database, "select carrier_name, scac from raw_tms.carriers") == [("Kestrel Haulage", "KHLT")]


def test_a_dms_file_of_only_its_header_without_a_line_break_is_empty_in_a_dry_run_too(database, tmp_path):
    # DMS promises no final line break (SOURCE_FORMATS.md): one line with no break is a header and no record
    root = tmp_path / "landing"
    _write(root, "dms/azureware/dbo/Orders/20261102-100000000.csv", DMS_ORDERS_HEADER)
    for dry_run in (True, False):
        report = load(database, str(root), dry_run=dry_run)
        assert report.exit_code == EXIT_OK and report.rows == 0 and report.quarantined == [], \
            (dry_run, report.summary())


def test_an_appflow_datetime_in_the_basic_format_with_an_offset_converts(database, tmp_path):
    root = tmp_path / "landing"
    key = "appflow/salesforce/salesforce-account/exec-5/part-0000"
    _write(root, key, _account(SystemModstamp="20261102T080000.000+0200", CreatedDate="20261102T080000+02"))
    report = load(database, str(root))
    assert report.exit_code == EXIT_OK and report.rows == 1, report.summary()
    assert query(database, "select systemmodstamp::text, createddate::text from raw_salesforce.accounts") == [
        ("2026-11-02 06:00:00", "2026-11-02 06:00:00")]


# ------------------- 9: DMS's NULL marker in a NOT NULL text column quarantined the whole CDC file (a probe)
def test_the_dms_null_marker_in_a_not_null_text_column_loads_as_the_text_null(database, tmp_path):
    """SOURCE_FORMATS.md: DMS writes NULL as `NULL`, "so a source value that is literally NULL is
    indistinguishable". Where the source declares a value (OrderNumber, Status: NOT NULL) it can only be that
    text; before, the whole CDC file, every other change in it, was quarantined. A NOT NULL number (ClientId)
    cannot hold the text and still quarantines its file."""
    root = tmp_path / "landing"
    text = "dms/azureware/dbo/Orders/20261102-100000000.csv"
    number = "dms/azureware/dbo/Orders/20261102-110000000.csv"
    literal = DMS_ORDER_EMPTY_NAME.replace(",SO-7,", ",NULL,").replace(",NEW,", ",NULL,")
    _write(root, text, DMS_ORDERS_HEADER + "\n" + literal + DMS_ORDER_EMPTY_NAME.replace(",7,SO-7,", ",8,SO-8,"))
    _write(root, number, DMS_ORDERS_HEADER + "\n" + DMS_ORDER_EMPTY_NAME.replace(",7,SO-7,1,", ",9,SO-9,NULL,"))
    report = load(database, str(root))
    assert report.exit_code == EXIT_QUARANTINED and report.rows == 2, report.summary()
    assert [(q.key, q.reason) for q in report.quarantined] == [
        (number, "column clientid: no value where the source declares one (NOT NULL)")]
    assert query(database, "select orderid, ordernumber, status, shippedat from raw_azureware.orders order by 1") == [
        (7, "NULL", "NULL", None), (8, "SO-8", "NEW", None)]  # ShippedAt (nullable): the marker is NULL


def test_an_appflow_field_of_two_json_types_in_one_file_is_named_as_such(database, tmp_path):
    # every line is a valid JSON object: the file was called "malformed JSON Lines" (a probe)
    root = tmp_path / "landing"
    key = "appflow/salesforce/salesforce-account/exec-6/part-0000"
    _write(root, key, _account(Note__c=5) + _account(Id="0018d0000000A14AAU", Note__c="five"))
    report = load(database, str(root))
    assert [(q.key, q.reason) for q in report.quarantined] == [
        (key, "field Note__c holds a JSON number in one record and a JSON string in another: one raw column "
              "cannot hold both (a field's type may change between files, where it widens)")]


def test_a_known_appflow_field_of_a_json_type_its_column_cannot_take_is_named_with_its_line(database, tmp_path):
    # pyarrow's message named two JSON types for one record's wrong type ("changed from boolean to number"),
    # or no field at all ("Empty string cannot be converted to decimal256", called malformed JSON Lines)
    root = tmp_path / "landing"
    contract = {"Id": "8008d0000000A13AAU", "IsDeleted": False, "CreatedDate": "2025-04-14T18:19:48.000Z",
                "LastModifiedDate": "2026-02-27T13:16:06.000Z", "SystemModstamp": "2026-02-27T13:16:06.000Z",
                "AccountId": "0018d0000000A13AAU", "ContractNumber": "00000101", "Status": "Activated",
                "StartDate": "2026-01-01", "EndDate": "2026-12-31", "Handling_Fee_Per_Order__c": "2.50",
                "CurrencyIsoCode": "USD"}  # a decimal's text is a number to the reader: it loads
    files = {
        "salesforce-account/exec-1": (_account(IsDeleted=0),
                                      "field IsDeleted: a JSON number where true or false is expected", 1),
        "salesforce-account/exec-2": (_account() + _account(Id="0018d0000000A14AAU", Name=14),
                                      "field Name: a JSON number where a string is expected", 2),
        "salesforce-contract/exec-3": (json.dumps(contract) + "\n"
                                       + json.dumps({**contract, "Handling_Fee_Per_Order__c": ""}) + "\n",
                                       "field Handling_Fee_Per_Order__c: an empty string where a number is expected",
                                       2),
        "salesforce-contract/exec-4": (json.dumps({**contract, "Handling_Fee_Per_Order__c": True}) + "\n",
                                       "field Handling_Fee_Per_Order__c: a JSON boolean where a number is expected",
                                       1),
    }
    for folder, (text, _reason, _line) in files.items():
        _write(root, f"appflow/salesforce/{folder}/part-0000", text)
    _write(root, "appflow/salesforce/salesforce-contract/exec-5/part-0000", json.dumps(contract) + "\n")
    expected = sorted((f"appflow/salesforce/{folder}/part-0000", reason, line)
                      for folder, (_text, reason, line) in files.items())
    for dry_run in (True, False):
        report = load(database, str(root), dry_run=dry_run)
        assert sorted((q.key, q.reason, q.line) for q in report.quarantined) == expected, dry_run
        assert report.files == 1, report.summary()
    assert query(database, "select id, handling_fee_per_order__c::text from raw_salesforce.contracts") == [
        ("8008d0000000A13AAU", "2.50")]
