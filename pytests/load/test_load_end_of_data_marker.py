"""A line of only `\\.`: PostgreSQL's COPY FROM STDIN reads it, outside quotes, as the end of the data and
drops every record after it without an error, so a broken file was recorded as loaded with records lost (an
independent probe found it). Redshift's COPY from S3 reads the same line as a record of one field and
refuses the file: the local loader now quarantines it too, naming the line; the same two characters on a
line inside a quoted value are data, and load."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from _load_helpers import ledger, query

from loaders.load import EXIT_OK, EXIT_QUARANTINED, load
from loaders.warehouse.postgres import _LandedCsv

CARRIERS = "tms/carriers/dt=2026-11-02/carriers-20261102.csv"
CARRIERS_HEADER = "carrier_id,carrier_name,scac,mode,updated_at"
ORDERS = "dms/azureware/dbo/Orders/20261102-100000000.csv"
DMS_ORDERS_HEADER = ("Op,dms_commit_ts,OrderId,OrderNumber,ClientId,WarehouseId,OrderType,Priority,CreatedAt,"
                     "RequiredShipBy,PromisedDeliveryDate,Status,ShippedAt,CustomerName,DestinationAddress,"
                     "DestinationPostcode,DestinationCountry,ModifiedAt,dms_change_seq")


def _order(order_id: int, customer: str) -> str:
    return (f"I,2026-11-02 10:00:00.000000,{order_id},SO-{order_id},1,1,B2C,STANDARD,2026-11-01 08:00:00.000000,"
            f"2026-11-02 08:00:00.000000,2026-11-04,NEW,NULL,{customer},1 High St,AB1,GB,"
            f"2026-11-02 10:00:00.000000,{order_id}")


def _write(root: Path, key: str, data: bytes) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_tms_extract_with_a_lone_end_of_data_line_is_quarantined_not_cut_short(database, tmp_path, newline):
    root = tmp_path / "landing"
    lines = [CARRIERS_HEADER, "C1,Kestrel,KHLT,ROAD,2026-11-02T06:00:00Z", "\\.",
             "C2,Osprey,OSPR,ROAD,2026-11-02T07:00:00Z"]
    _write(root, CARRIERS, (newline.join(lines) + newline).encode())
    report = load(database, str(root), progress=False)
    assert report.exit_code == EXIT_QUARANTINED, report.summary()
    [quarantined] = report.quarantined
    assert quarantined.key == CARRIERS
    assert quarantined.reason == "malformed CSV record: 1 fields where the header has 5 (truncated or corrupt file)"
    assert quarantined.line == 3
    assert query(database, "select count(*) from raw_tms.carriers") == [(0,)]  # nothing half-loaded
    assert [(k, s) for k, _e, s, *_ in ledger(database)] == [(CARRIERS, "quarantined")]


def test_a_dms_file_ending_in_an_end_of_data_line_is_quarantined(database, tmp_path):
    root = tmp_path / "landing"
    # DMS promises no final line break: both spellings of the last line
    _write(root, ORDERS, f"{DMS_ORDERS_HEADER}\n{_order(1, 'Ann')}\n{_order(2, 'Bo')}\n\\.\n".encode())
    _write(root, ORDERS.replace("100000000", "100000001"),
           f"{DMS_ORDERS_HEADER}\n{_order(3, 'Cy')}\n\\.".encode())
    report = load(database, str(root), progress=False)
    assert report.exit_code == EXIT_QUARANTINED, report.summary()
    reasons = {q.key: (q.reason, q.line) for q in report.quarantined}
    assert reasons == {
        ORDERS: ("malformed CSV record: 1 fields where the header has 19 (truncated or corrupt file)", 4),
        ORDERS.replace("100000000", "100000001"):
            ("malformed CSV record: 1 fields where the header has 19 (truncated or corrupt file)", 3),
    }
    assert query(database, "select count(*) from raw_azureware.orders") == [(0,)]


def test_an_end_of_data_line_inside_a_quoted_value_is_data(database, tmp_path):
    root = tmp_path / "landing"
    customer = 'Ann\n\\.\nof "Quay"'
    quoted = '"' + customer.replace('"', '""') + '"'
    _write(root, ORDERS, f"{DMS_ORDERS_HEADER}\n{_order(1, quoted)}\n{_order(2, 'Bo')}\n".encode())
    report = load(database, str(root), progress=False)
    assert report.exit_code == EXIT_OK and report.rows == 2, report.summary()
    assert query(database, "select orderid, customername, _source_row from raw_azureware.orders order by 1") == [
        (1, customer, 1), (2, "Bo", 2)]


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 1 << 20])
def test_the_stream_notes_a_line_starting_with_the_marker_across_chunk_boundaries(monkeypatch, chunk_bytes):
    monkeypatch.setattr(_LandedCsv, "CHUNK_BYTES", chunk_bytes)

    def noted(data: bytes) -> bool:
        landed = _LandedCsv("k", lambda: io.BytesIO(data), hashed=True)
        for _chunk in landed():
            pass
        return landed.end_marker

    assert noted(b"a,b\n1,2\n\\.\n3,4\n")
    assert noted(b"a,b\r\n1,2\r\n\\.\r\n")
    assert noted(b"a,b\n1,2\n\\.")
    assert noted(b"\\.\n")  # the file's first line
    assert not noted(b"a,b\n1,\\.\n")  # not at a line's start
    assert not noted(b"a,b\n1,2\n.\\\n")
    assert not noted(b"a,b\n1,2\n")
