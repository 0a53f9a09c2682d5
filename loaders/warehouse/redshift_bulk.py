"""The Redshift backfill path: many files, one COPY, `_source_key` and `_source_row` carried in the data.

COPY writes no file name into the rows it loads, so the per-event path pays one COPY (with its fixed
cost, a second or more) per file to keep `_source_key` exact. A backfill of thousands of files must not.
Here the loader reads each file of a batch with pyarrow (the same readers as everywhere: C++ parsing, no
per-record Python), appends two columns, `_source_key` (the object key, `pyarrow.repeat`) and
`_source_row` (its record number), and writes it as one Parquet part under its own prefix
(`<manifest prefix>/<batch>/bulk/<n>.parquet`, never among the landed files, which are never modified).
One manifest lists the parts; ONE COPY ... FORMAT AS PARQUET MANIFEST loads them all into a stage; one
INSERT ... SELECT moves them into the raw table, and one INSERT writes every file's ledger row from a
second small part listing the files (key, ETag, size, checksum). The statement count is constant (about
ten), whatever the number of files, well within BatchExecuteStatement's 40.

What it costs and gives: the loader reads every byte once and writes it once more to S3 (a Lambda or a
container does 100+ MB/s); Redshift runs one COPY instead of thousands; `_source_row` is exact here (the
per-event path leaves it NULL: COPY has no file-order ordinal). Text formats (DMS and TMS CSV) are staged
as text and cast by the INSERT (CAST to the raw type), where the per-event COPY parses them itself
(TIMEFORMAT 'auto'): the sources pin ISO 8601, which both read alike. When the bulk COPY, the DMS Op check
or the INSERT fails, the files of the batch go through the per-event path instead, which names the file,
line and column of every problem.

Alternatives weighed (docs/loaders.md "Redshift backfill"): Redshift Spectrum's `"$path"` pseudo-column
gives each row its object key without rewriting, but Spectrum's CSV reader (OpenCSVSerde) maps columns by
position and does not handle line breaks inside quoted values, which DMS writes (addresses); for Parquet and
JSON Lines it would work, at the price of an external schema and a Glue table per raw table.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from loaders import ledger
from loaders.evolution import SqlType
from loaders.manifest import ManifestEntry, manifest_url, write_manifest
from loaders.records import FileLoad
from loaders.source_tables import SourceTable
from loaders.warehouse.redshift_sql import (CLOCK, Decision, Statement, add_column_sql, clock_sql,
                                            insert_batch_sql, insert_decisions_sql, literal, lock_sql, op_check_sql,
                                            quote_ident, qualified, raw_table_name)

BULK = "unify_bulk"
BULK_FILES = "unify_bulk_files"
_FILES_SCHEMA = pa.schema([("object_key", pa.string()), ("etag", pa.string()), ("size_bytes", pa.int64()),
                           ("content_checksum", pa.string()), ("columns_added", pa.string())])


def same_shape(files: Sequence[FileLoad]) -> bool:
    return len({(tuple(f.columns), f.file_format.kind) for f in files}) == 1


def stage_types(f: FileLoad) -> list[tuple[str, str]]:
    """The bulk stage's columns, in the parts' order: the file's columns (text formats as text, typed
    formats as their file type), then `_source_key` and `_source_row`."""
    text = f.file_format.kind == "csv"
    columns = [(c.raw_name, "varchar(65535)" if text else c.file_type) for c in f.columns]
    return columns + [("_source_key", "varchar(1024)"), ("_source_row", "bigint")]


def part_table(f: FileLoad) -> pa.Table:
    """A file's records as the bulk part holds them: its columns under their raw names, then its key and
    its record numbers. Built from Arrow batches: no per-record Python."""
    pieces = []
    for batch in f.record_batches():
        columns = [batch.column(i) for i in range(len(f.columns))]
        rows = batch.column(batch.num_columns - 1)
        pieces.append(pa.RecordBatch.from_arrays(
            [*columns, pa.repeat(pa.scalar(f.key, pa.string()), batch.num_rows), rows.cast(pa.int64())],
            names=[*(c.raw_name for c in f.columns), "_source_key", "_source_row"]))
    if not pieces:
        names = [*(c.raw_name for c in f.columns), "_source_key", "_source_row"]
        return pa.table({n: pa.array([], pa.string() if n != "_source_row" else pa.int64()) for n in names})
    return pa.Table.from_batches(pieces)


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


@dataclass(frozen=True)
class BulkUpload:
    data_manifest: str
    files_manifest: str
    parts: Mapping[str, str]  # part URL -> object key (SYS_LOAD_ERROR_DETAIL names the part)


def upload_parts(s3, manifest_prefix: str, batch_id: str, files: Sequence[FileLoad]) -> BulkUpload:
    """Write one Parquet part per file, the files' part, and the two manifests (content_length: Parquet)."""
    entries, parts = [], {}
    base = f"{manifest_prefix.rstrip('/')}/{batch_id}/bulk"
    for i, f in enumerate(files):
        url = f"{base}/{i:05d}.parquet"
        data = _parquet_bytes(part_table(f))
        _put(s3, url, data)
        entries.append(ManifestEntry(url, len(data)))
        parts[url] = f.key
    listing = pa.table({"object_key": [f.key for f in files], "etag": [f.etag or f.checksum for f in files],
                        "size_bytes": [f.size for f in files], "content_checksum": [f.checksum for f in files],
                        "columns_added": [",".join(n for n, _ in f.added_columns) or None for f in files]},
                       schema=_FILES_SCHEMA)
    files_url = f"{base}/files.parquet"
    data = _parquet_bytes(listing)
    _put(s3, files_url, data)
    data_manifest = manifest_url(manifest_prefix, batch_id, "bulk")
    files_manifest = manifest_url(manifest_prefix, batch_id, "bulk-files")
    write_manifest(s3, data_manifest, entries)
    write_manifest(s3, files_manifest, [ManifestEntry(files_url, len(data))])
    return BulkUpload(data_manifest, files_manifest, parts)


def _put(s3, url: str, data: bytes) -> None:
    from loaders.landing import LandingError
    from loaders.manifest import split_s3_url

    bucket, key = split_s3_url(url)
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    except Exception as err:  # botocore raises several unrelated types
        raise LandingError(f"cannot write the bulk part {url}: {err}") from err


def _file_guard(alias: str) -> str:
    a = quote_ident(alias)
    return (f"NOT EXISTS (SELECT 1 FROM {qualified(ledger.SCHEMA, ledger.LEDGER)} l "
            f"WHERE l.\"object_key\" = {a}.\"object_key\" AND (l.\"content_checksum\" = {a}.\"content_checksum\" "
            f"OR (l.\"content_checksum\" IS NULL AND l.\"etag\" = {a}.\"etag\")) "
            "AND l.\"status\" IN ('loaded', 'duplicate'))")


def bulk_script(batch_id: str, table: SourceTable, files: Sequence[FileLoad], table_types: Mapping[str, str],
                upload: BulkUpload, iam_role: str, loader: str, decisions: Sequence[Decision] = ()) -> list[Statement]:
    """The bulk batch transaction: a constant number of statements for any number of same-shaped files."""
    first = files[0]
    statements = [Statement(lock_sql(), "lock"), Statement(clock_sql(), "clock")]
    known = dict(table_types)
    for name, type_ in first.added_columns:
        if name not in known:
            statements.append(Statement(add_column_sql(table, name, type_), "alter"))
            known[name] = type_
    stage_columns = ", ".join(f"{quote_ident(n)} {t}" for n, t in stage_types(first))
    statements += [
        Statement(f"CREATE TEMP TABLE {quote_ident(BULK)} ({stage_columns})", "stage"),
        Statement(f"CREATE TEMP TABLE {quote_ident(BULK_FILES)} (\"object_key\" varchar(1024), \"etag\" varchar(128), "
                  f"\"size_bytes\" bigint, \"content_checksum\" varchar(128), \"columns_added\" varchar(4096))",
                  "stage"),
        Statement(f"COPY {quote_ident(BULK)} FROM {literal(upload.data_manifest)} IAM_ROLE {literal(iam_role)} "
                  "FORMAT AS PARQUET MANIFEST", "copy"),
        Statement(f"COPY {quote_ident(BULK_FILES)} FROM {literal(upload.files_manifest)} IAM_ROLE {literal(iam_role)} "
                  "FORMAT AS PARQUET MANIFEST", "copy"),
    ]
    if any(c.raw_name == "op" for c in first.columns) and any(c.raw_name == "op" for c in table.delivery_columns):
        statements.append(Statement(op_check_sql(BULK), "check"))
    targets, values = [], []
    for name, stage_type in stage_types(first)[:-2]:
        raw_type = known.get(name, stage_type)
        column = f"s.{quote_ident(name)}"
        targets.append(quote_ident(name))
        values.append(column if SqlType.parse(stage_type) == SqlType.parse(raw_type) else
                      f"CAST({column} AS {raw_type})")
    targets += [quote_ident(n) for n in ("_source_key", "_source_row", "_batch_id", "_loaded_at")]
    values += ["s.\"_source_key\"", "s.\"_source_row\"", literal(batch_id), f"c.{quote_ident('loaded_at')}"]
    statements.append(Statement(
        f"INSERT INTO {raw_table_name(table)} ({', '.join(targets)}) SELECT {', '.join(values)} "
        f"FROM {quote_ident(BULK)} s JOIN {quote_ident(BULK_FILES)} f ON f.\"object_key\" = s.\"_source_key\" "
        f"CROSS JOIN {quote_ident(CLOCK)} c WHERE {_file_guard('f')}", "insert"))
    ledger_columns = ", ".join(quote_ident(c) for c in ledger.LEDGER_INSERT_COLUMNS)
    statements.append(Statement(
        f"INSERT INTO {qualified(ledger.SCHEMA, ledger.LEDGER)} ({ledger_columns}) "
        f"SELECT f.\"object_key\", f.\"etag\", f.\"size_bytes\", 'loaded', {literal(table.qualified_raw_name)}, "
        f"COALESCE(n.\"n\", 0), {literal(batch_id)}, NULL, NULL, f.\"columns_added\", c.{quote_ident('loaded_at')}, "
        f"f.\"content_checksum\", NULL FROM {quote_ident(BULK_FILES)} f "
        f"LEFT JOIN (SELECT \"_source_key\", COUNT(*) AS \"n\" FROM {quote_ident(BULK)} GROUP BY 1) n "
        f"ON n.\"_source_key\" = f.\"object_key\" CROSS JOIN {quote_ident(CLOCK)} c WHERE {_file_guard('f')}",
        "ledger"))
    if decisions:
        statements.append(Statement(insert_decisions_sql(table.qualified_raw_name, decisions, batch_id), "decisions"))
    statements.append(Statement(insert_batch_sql(batch_id, table.qualified_raw_name, loader), "batch"))
    return statements
