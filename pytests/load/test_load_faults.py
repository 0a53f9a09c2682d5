"""Every simulator fault, schema drift, and hostile or broken input: quarantined with a reason, never
deleted, never stopping the other files; retried after a fix."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _load_helpers import execute, ledger, query, rows_per_key, unify_load

from loaders.load import EXIT_OK, EXIT_QUARANTINED, load


def _first_garbage_line(data: bytes) -> int:
    """The line (header = 1) of the first byte that is not UTF-8 text (or is NUL)."""
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            if "\x00" in line.decode("utf-8"):
                return number
        except UnicodeDecodeError:
            return number
    raise AssertionError("no garbage found")


def _cut_record_reason(data: bytes) -> str:
    """What a CSV file whose last record was cut mid-way is quarantined for, read with Python's csv module:
    a quoted value left open, or fewer fields than the header."""
    try:
        header, *records = list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), strict=True))
    except csv.Error:
        return "malformed CSV: a quoted value is never closed (truncated or corrupt file)"
    return (f"malformed CSV record: {len(records[-1])} fields where the header has {len(header)} "
            "(truncated or corrupt file)")


def _digests(root) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("landing_name", ["faults_csv", "faults_parquet"])
def test_every_simulator_fault(database, landing_name, request):
    landing = request.getfixturevalue(landing_name)
    before = _digests(landing.root)
    report = load(database, str(landing.root))
    assert report.exit_code == EXIT_QUARANTINED, report.summary()

    # quarantined: exactly the objects an independent reader cannot read, each with a specific reason
    quarantined = {q.key: q for q in report.quarantined}
    assert set(quarantined) == set(landing.bad) and landing.bad
    for key, q in quarantined.items():
        assert q.reason and q.key in str(q)
        data = landing.objects[key].data
        if landing_name == "faults_parquet" and not key.startswith("appflow/"):
            assert "not a readable Parquet file" in q.reason, q  # truncated / bad footer
        elif key.startswith("dms/azureware/dbo/OrderLines/"):  # truncated_file: cut mid-record
            # DMS promises no final line break: the cut record is caught by its fields or an open quote
            assert q.reason == _cut_record_reason(data), q
            assert q.line == data.count(b"\n") + 1 and not data.endswith(b"\n"), q  # the last, cut line
        elif key.startswith("dms/azureware/dbo/InventoryBalances/"):  # corrupt_file: garbage bytes
            assert "not valid UTF-8" in q.reason, q
            assert q.line == _first_garbage_line(data), q
        elif key.startswith("appflow/"):  # malformed_json
            assert "malformed JSON Lines" in q.reason or "Parquet" in q.reason, q
        else:
            pytest.fail(f"unexpected quarantine {q}")
    assert {s for k, _e, s, *_ in ledger(database) if k in quarantined} == {"quarantined"}

    # everything else loaded, record for record; the DMS re-sends of the bad files among them
    assert rows_per_key(database) == {k: len(v.records) for k, v in landing.good.items() if v.records}
    # raw keeps every record as delivered: duplicated CDC records, deletes, byte-identical re-deliveries
    duplicated = query(database, "select count(*) from (select orderlineid, dms_change_seq, _source_key "
                                 "from raw_azureware.order_lines group by 1, 2, 3 having count(*) > 1) d")
    deletes = query(database, "select count(*) from raw_azureware.orders where op = 'D'")
    assert duplicated[0][0] > 0 and deletes[0][0] > 0
    same_bytes = {}
    for key, obj in landing.good.items():
        if key.startswith("dms/"):
            same_bytes.setdefault(hashlib.md5(obj.data).hexdigest(), []).append(key)
    redelivered = [keys for keys in same_bytes.values() if len(keys) > 1]
    assert redelivered, "the simulator re-delivers a DMS file under a new key"
    loaded = {k for k, _e, s, *_ in ledger(database) if s == "loaded"}
    assert all(set(keys) <= loaded for keys in redelivered)

    # landed files are never modified or deleted
    assert _digests(landing.root) == before

    # a rerun does not retry quarantined objects (they wait for a fix) and says so
    again = load(database, str(landing.root))
    assert again.exit_code == EXIT_OK and again.new == 0
    assert {e.key for e in again.previously_quarantined} == set(quarantined)


def test_added_source_column_is_added_to_the_raw_table_and_reported(database, faults_csv):
    report = load(database, str(faults_csv.root), sources=["azureware"])
    assert [(d["table"], d["column"], d["type"]) for d in report.drift] == \
        [("raw_azureware.orders", "saleschannel", "varchar(65535)")]
    assert "schema drift: raw_azureware.orders gained column saleschannel" in report.summary()
    assert query(database, "select is_nullable from information_schema.columns where table_schema = "
                           "'raw_azureware' and table_name = 'orders' and column_name = 'saleschannel'") == [("YES",)]
    expected = {(k, n): r.get("SalesChannel") for k, v in faults_csv.good.items()
                if k.startswith("dms/azureware/dbo/Orders/") for n, r in enumerate(v.records, start=1)}
    got = {(k, n): v for k, n, v in query(database, "select _source_key, _source_row, saleschannel "
                                                    "from raw_azureware.orders")}
    assert got == expected
    assert any(v is not None for v in got.values()) and any(v is None for v in got.values())
    added = [r for r in ledger(database) if r[0] == report.drift[0]["key"]]
    assert added and added[0][2] == "loaded"
    # the column exists now: later files with it are no drift
    assert load(database, str(faults_csv.root), sources=["azureware"]).drift == []


def _orders_file(landing) -> tuple[str, object]:
    key = max((k for k in landing.good if k.startswith("dms/azureware/dbo/Orders/")),
              key=lambda k: len(landing.objects[k].records))
    return key, landing.objects[key]


def _write_csv(path, header, records) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for record in records:
        writer.writerow(["NULL" if record.get(h) is None else record[h] for h in header])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue(), encoding="utf-8")


def test_incompatible_changes_quarantine_the_file_and_the_rest_loads(database, clean_landing, faults_parquet,
                                                                     tmp_path):
    root = tmp_path / "landing"
    key, orders = _orders_file(clean_landing)
    folder = "dms/azureware/dbo/Orders/"
    # 1. a key column missing
    _write_csv(root / f"{folder}20261101-000000001.csv", [h for h in orders.header if h != "OrderId"], orders.records)
    # 2. a value the raw type cannot take (QtyOrdered-like: OrderLines from the same landing)
    lines_key = max((k for k in clean_landing.good if k.startswith("dms/azureware/dbo/OrderLines/")),
                    key=lambda k: len(clean_landing.objects[k].records))
    lines = clean_landing.objects[lines_key]
    records = [dict(r) for r in lines.records]
    records[2]["QtyOrdered"] = "three"
    _write_csv(root / "dms/azureware/dbo/OrderLines/20261101-000000002.csv", lines.header, records)
    # 3. a Parquet column whose type can never become the raw type (a timestamp for an integer)
    pq_key = max((k for k in faults_parquet.good if k.startswith("dms/azureware/dbo/Orders/")),
                 key=lambda k: len(faults_parquet.objects[k].records))
    table = pq.read_table(io.BytesIO(faults_parquet.objects[pq_key].data))
    index = table.column_names.index("ClientId")
    table = table.set_column(index, "ClientId", pa.array([0] * table.num_rows, pa.int64()).cast(pa.timestamp("us")))
    (root / folder).mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / f"{folder}20261101-000000003.parquet")
    # and good files next to them
    _write_csv(root / key, orders.header, orders.records)
    _write_csv(root / lines_key, lines.header, lines.records)

    report = load(database, str(root))
    assert report.exit_code == EXIT_QUARANTINED
    reasons = {q.key.rsplit("/", 1)[1]: q for q in report.quarantined}
    assert set(reasons) == {"20261101-000000001.csv", "20261101-000000002.csv", "20261101-000000003.parquet"}
    assert "missing key column(s) OrderId" in reasons["20261101-000000001.csv"].reason
    bad_value = reasons["20261101-000000002.csv"]
    # a DMS column is typed by SQL Server: a value that breaks it quarantines (no widening), and the reason
    # says the column and the kind of problem, never the value
    assert bad_value.reason == "column qtyordered: not a valid integer"
    assert bad_value.line == 4  # the file's line: header, then records 1, 2, 3
    assert "cannot be cast to its raw type integer" in reasons["20261101-000000003.parquet"].reason
    assert rows_per_key(database) == {key: len(orders.records), lines_key: len(lines.records)}


def _injection_landing(root, clean_landing) -> dict[str, str]:
    """Objects the simulator cannot produce: keys and header cells crafted as SQL, broken layouts."""
    key, orders = _orders_file(clean_landing)
    data = clean_landing.objects[key].data
    crafted = {
        'dms/azureware/dbo/Orders"; drop table victim; --/LOAD00000001.csv': "unknown DMS table folder",
        "dms/azureware/dbo/Orders'); drop table victim; --/x.csv": "unknown DMS table folder",
        "dms/azureware/sales/Orders/LOAD00000001.csv": "unknown DMS schema folder",
        "dms/azureware/dbo/Orders/LOAD00000001.csv.bak": "unsupported DMS file type",
        "dms/azureware/dbo/Orders/2026/11/01/x.csv": "not a DMS file",
        "appflow/salesforce/salesforce-opportunity/exec-1/part-0000": "unknown AppFlow flow",
        "tms/invoices/dt=2026-11-01/invoices-20261101.csv": "unknown TMS extract",
        "tms/shipments/day=2026-11-01/shipments-20261101.csv": "is not dt=YYYY-MM-DD",
    }
    for crafted_key in crafted:
        path = root / crafted_key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    header = [h if h != "Status" else 'Status"; drop table victim; --' for h in orders.header]
    records = [{(h if h != "Status" else header[orders.header.index("Status")]): v for h, v in r.items()}
               for r in orders.records]
    _write_csv(root / "dms/azureware/dbo/Orders/20261101-000000004.csv", header, records)
    crafted["dms/azureware/dbo/Orders/20261101-000000004.csv"] = "is not a plain identifier"
    (root / "dms/azureware/dbo/Orders/20261101-000000005.csv").write_bytes(b"")
    crafted["dms/azureware/dbo/Orders/20261101-000000005.csv"] = "empty file: no header row"
    # a blank first line is the header (no column names), not an empty file; nor are blank lines past the
    # header reader's first page (64 KB) before the content
    (root / "dms/azureware/dbo/Orders/20261101-000000006.csv").write_bytes(b"\n" + data)
    crafted["dms/azureware/dbo/Orders/20261101-000000006.csv"] = "missing key column(s)"
    (root / "dms/azureware/dbo/Orders/20261101-000000007.csv").write_bytes(b"\n" * 70_000 + data)
    crafted["dms/azureware/dbo/Orders/20261101-000000007.csv"] = "missing key column(s)"
    _write_csv(root / key, orders.header, orders.records)  # one good file
    return crafted


def test_hostile_and_broken_objects_are_quarantined_by_name_and_never_executed(database, clean_landing, tmp_path):
    root = tmp_path / "landing"
    crafted = _injection_landing(root, clean_landing)
    execute(database, "create table public.victim (id int)")
    before = _digests(root)
    result = unify_load(database, "--landing", str(root), "--json-summary", "--json-logs")
    assert result.returncode == EXIT_QUARANTINED, result.stderr
    summary = json.loads(result.stdout)
    got = {q["key"]: q["reason"] for q in summary["quarantined"]}
    assert set(got) == set(crafted)
    for key, expected_reason in crafted.items():
        assert expected_reason in got[key], (key, got[key])
    assert query(database, "select to_regclass('public.victim') is not null") == [(True,)]
    assert {k for k, _e, s, *_ in ledger(database) if s == "quarantined"} == set(crafted)  # exact keys stored
    assert summary["files"] == 1 and summary["rows"] > 0
    assert _digests(root) == before  # quarantined objects are kept as they are
    events = [json.loads(line) for line in result.stderr.splitlines()]
    logged = {e["key"]: e["reason"] for e in events if e["event"] == "file_quarantined"}
    assert logged == got  # one log event per quarantined object, naming it and the reason


def test_a_quarantined_file_is_retried_after_a_fix(database, clean_landing, tmp_path):
    root = clean_landing.copy_to(tmp_path / "landing")
    key = max((k for k in clean_landing.good if k.startswith("dms/azureware/dbo/Products/")),
              key=lambda k: len(clean_landing.objects[k].records))
    products = clean_landing.objects[key]
    records = [dict(r) for r in products.records]
    records[0]["Sku"] = "X" * 200  # SQL Server's nvarchar(40) guarantees what raw varchar(160) holds: broken
    _write_csv(root / key, products.header, records)

    first = load(database, str(root))
    assert first.exit_code == EXIT_QUARANTINED
    assert [q.key for q in first.quarantined] == [key]
    assert first.quarantined[0].reason == "column sku: a value longer than character varying(160)"
    assert first.quarantined[0].line == 2
    # not retried by itself...
    assert load(database, str(root)).previously_quarantined[0].key == key
    # ...until the cause is fixed (the raw column widened by hand) and the operator asks for it
    execute(database, "alter table raw_azureware.products alter column sku type varchar(256)")
    retried = load(database, str(root), retry_quarantined=True)
    assert retried.exit_code == EXIT_OK and retried.files == 1
    assert [s for k, _e, s, *_ in ledger(database) if k == key] == ["quarantined", "loaded"]

    # new content under the same key (the source re-wrote the object) is retried automatically
    source = max((k for k in clean_landing.good if k.startswith("tms/carriers/")),
                 key=lambda k: len(clean_landing.objects[k].records))
    good_bytes = (root / source).read_bytes()
    late = root / "tms/carriers/dt=2026-11-05/carriers-20261105.csv"
    late.parent.mkdir(parents=True)
    late.write_bytes(good_bytes[: len(good_bytes) // 2 + 3])  # an upload cut short
    cut = load(database, str(root))
    assert [q.key for q in cut.quarantined] == ["tms/carriers/dt=2026-11-05/carriers-20261105.csv"]
    late.write_bytes(good_bytes)  # uploaded again, complete: new content
    fixed = load(database, str(root))
    assert fixed.exit_code == EXIT_OK and fixed.files == 1
    assert fixed.rows == len(clean_landing.objects[source].records)
