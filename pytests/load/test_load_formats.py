"""The readers, end to end: every value the simulators landed reaches its raw column, faithfully typed.

The expected values come from an independent reading of the same files (csv/json modules), so a
reader that mapped by position, mishandled NULL markers, RFC 4180 quoting, line breaks in values,
JSON types or Parquet types would fail here.
"""

from __future__ import annotations

import csv
import io

import pytest
from _load_oracle import crc64nvme, expected_value, read_object
from _load_helpers import ledger, query, rows_per_key

from loaders.load import EXIT_OK, EXIT_QUARANTINED, load
from loaders.source_tables import ALL_TABLES, get_table


def _raw_rows(settings, table) -> dict[tuple[str, int], dict]:
    columns = [name for (name,) in query(
        settings, "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
                  "order by ordinal_position", (table.raw_schema, table.raw_table))]
    rows = query(settings, f'select * from "{table.raw_schema}"."{table.raw_table}"')
    return {(r[columns.index("_source_key")], r[columns.index("_source_row")]): dict(zip(columns, r)) for r in rows}


def _assert_same_values(settings, landing, tables) -> int:
    compared = 0
    for table in tables:
        raw = _raw_rows(settings, table)
        types = {c.raw_name: c.raw_type for c in (*table.delivery_columns, *table.columns)}
        for key, landed in landing.good.items():
            if landed.table is not table:
                continue
            for number, record in enumerate(landed.records, start=1):
                row = raw[(key, number)]
                for name, value in record.items():
                    raw_name = name.lower()
                    expected = expected_value(types.get(raw_name, "varchar"), value)
                    assert row[raw_name] == expected, f"{key} record {number} column {name}"
                    compared += 1
    return compared


def test_clean_csv_landing_loads_every_value_faithfully(database, clean_landing):
    report = load(database, str(clean_landing.root))
    assert report.exit_code == EXIT_OK, report.summary()
    assert report.quarantined == []
    expected = {k: len(v.records) for k, v in clean_landing.good.items() if v.records}
    assert rows_per_key(database) == expected
    assert report.rows == sum(expected.values())
    assert report.files == len(clean_landing.good)
    # every column of every record, DMS (NULL marker, quoting, line breaks), AppFlow JSON and TMS CSV
    assert _assert_same_values(database, clean_landing, ALL_TABLES) > 10_000
    # each object's identity in the ledger is its content: the CRC-64/NVME of its bytes (computed as they
    # stream into the warehouse); a local file has no ETag, the checksum stands in
    identities = {k: (e, c) for k, e, c in query(database, "select object_key, etag, content_checksum "
                                                           "from unify_loader.load_ledger")}
    assert identities == {k: (crc64nvme(v.data),) * 2 for k, v in clean_landing.good.items()}


def test_records_are_numbered_in_file_order_and_carry_their_batch(database, clean_landing):
    load(database, str(clean_landing.root))
    key = next(k for k, v in clean_landing.good.items() if k.startswith("dms/azureware/dbo/Orders/")
               and len(v.records) > 3)
    numbers = [n for (n,) in query(database, "select _source_row from raw_azureware.orders where _source_key = %s "
                                             "order by _source_row", (key,))]
    assert numbers == list(range(1, len(clean_landing.objects[key].records) + 1))
    # metadata: batch ids and load times agree with the ledger and the batch table, per batch
    mismatched = query(database, """
        select r._batch_id from raw_azureware.orders r
        left join unify_loader.load_ledger l on l.object_key = r._source_key and l.status = 'loaded'
        left join unify_loader.load_batches b on b.batch_id = r._batch_id
        where l.batch_id is distinct from r._batch_id or b.committed_at is distinct from r._loaded_at""")
    assert mismatched == []
    assert len(query(database, "select distinct _loaded_at from raw_azureware.orders union "
                               "select distinct _loaded_at from raw_tms.shipments")) > 1


def test_dms_columns_are_mapped_by_header_name_not_position(database, clean_landing, tmp_path):
    """The same Orders file with its columns in another order loads into the same raw values."""
    root = tmp_path / "landing"
    source_key = max((k for k in clean_landing.good if k.startswith("dms/azureware/dbo/Orders/")),
                     key=lambda k: len(clean_landing.objects[k].records))
    original = clean_landing.objects[source_key]
    header = list(reversed(original.header))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for record in original.records:
        writer.writerow(["NULL" if record[h] is None else record[h] for h in header])
    path = root / source_key
    path.parent.mkdir(parents=True)
    path.write_text(out.getvalue(), encoding="utf-8")
    report = load(database, str(root))
    assert report.exit_code == EXIT_OK, report.summary()
    reread = read_object(source_key, path.read_bytes())
    assert reread.records == original.records  # the same records, columns shuffled

    class Only:
        good = {source_key: reread}
    assert _assert_same_values(database, Only, [get_table("azureware", "Orders")]) == \
        len(original.records) * len(header)


def test_parquet_and_json_landings_load_every_value(database, faults_parquet, faults_csv):
    report = load(database, str(faults_parquet.root))
    assert report.exit_code == EXIT_QUARANTINED
    expected = {k: len(v.records) for k, v in faults_parquet.good.items() if v.records}
    assert rows_per_key(database) == expected
    assert _assert_same_values(database, faults_parquet, ALL_TABLES) > 5_000
    statuses = {key: status for key, _etag, status, *_ in ledger(database)}
    assert {k for k, s in statuses.items() if s == "quarantined"} == set(faults_parquet.bad)


def test_appflow_files_are_found_by_folder_whatever_their_name(database, clean_landing):
    keys = [k for k in clean_landing.good if k.startswith("appflow/")]
    assert keys and all(":" in k.rsplit("/", 1)[-1] for k in keys)  # AppFlow names: no extension, ':' inside
    load(database, str(clean_landing.root), sources=["salesforce"])
    loaded = {key for key, _e, status, *_ in ledger(database) if status == "loaded"}
    assert loaded == set(keys)


def test_raw_tables_are_created_as_the_contract_defines_them_idempotently(database):
    from loaders.warehouse.base import raw_columns
    from loaders.warehouse.postgres import PostgresWarehouse

    for _ in range(2):  # twice: set-up is idempotent
        warehouse = PostgresWarehouse(database)
        warehouse.setup(ALL_TABLES)
        warehouse.close()
    for table in ALL_TABLES:
        got = query(database, """
            select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull from pg_attribute a
            where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum""",
                    (f'"{table.raw_schema}"."{table.raw_table}"',))
        expected = [(name, type_, not_null) for name, type_, not_null in raw_columns(table)]
        normalise = {"varchar": "character varying", "char": "character", "timestamp": "timestamp without time zone"}
        assert [(n, t, nn) for n, t, nn in got] == [
            (n, normalise.get(t.split("(")[0], t.split("(")[0]) + (t[t.index("("):] if "(" in t else ""), nn)
            for n, t, nn in expected], table.qualified_raw_name
    # raw rows only come from the loader: a plain INSERT without origin is refused
    import psycopg2
    with pytest.raises(psycopg2.Error, match="written by the unify loader only"):
        query(database, "insert into raw_tms.carriers (carrier_id, carrier_name, mode, updated_at) "
                        "values (1, 'x', 'ROAD', now())")


@pytest.mark.parametrize("variant", ["as landed", "CRLF line ends", "no final line break"])
def test_csv_records_are_numbered_by_the_warehouse_in_file_order_across_any_chunking(database, clean_landing,
                                                                                     tmp_path, monkeypatch, variant):
    """Quoted values with commas, doubled quotes and line breaks (the simulator's addresses), streamed in
    tiny chunks so that chunk ends fall inside quoted values: every record keeps its number (assigned by
    the warehouse, in file order) and its values. DMS does not promise a line break after the last record
    (SOURCE_FORMATS.md pins one for TMS only): a DMS file without it loads every record, the last one
    with its last value whole."""
    from loaders.warehouse import postgres

    monkeypatch.setattr(postgres._LandedCsv, "CHUNK_BYTES", 37)
    key = max((k for k in clean_landing.good if k.startswith("dms/azureware/dbo/Orders/")),
              key=lambda k: clean_landing.objects[k].data.count(b'"'))
    data = clean_landing.objects[key].data
    assert b'""' in data or data.count(b'"') > 10  # quoting is really exercised
    if variant == "CRLF line ends":
        data = data.replace(b"\n", b"\r\n")  # also inside quoted values: they keep their CRLF
    elif variant == "no final line break":
        data = data.rstrip(b"\n")
    path = tmp_path / "landing" / key
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    report = load(database, str(tmp_path / "landing"))
    assert report.exit_code == EXIT_OK, report.summary()
    reread = read_object(key, data)
    if variant == "CRLF line ends":  # the oracle reads CRLF records; values keep "\r\n" inside quotes
        assert len(reread.records) == len(clean_landing.objects[key].records)

    class Only:
        good = {key: reread}
    assert _assert_same_values(database, Only, [get_table("azureware", "Orders")]) > 0
    numbers = [n for (n,) in query(database, "select _source_row from raw_azureware.orders order by _source_row")]
    assert numbers == list(range(1, len(reread.records) + 1))
