"""AWS DMS output (AzureWare WMS): `<prefix>/<schema>/<Table>/LOAD00000001.csv` and time-named CDC files.

GLC's endpoint (SOURCE_FORMATS.md): a header row in every file (`AddColumnName=true`), `Op` first,
`dms_commit_ts`, the source columns, `dms_change_seq`; NULL written as the unquoted text `NULL`; RFC 4180
quoting (values may hold commas, quotes and line breaks). Parquet (`DataFormat=parquet`) carries the same
columns typed. Columns are mapped by their header name, never by position. Full-load files are
`LOAD` + 8 hex digits; every other name is a CDC file (names are times of varying precision, so the
loader never relies on their pattern, nor orders changes by them).
"""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa

from loaders.landing import LandedObject, LandingZone
from loaders.records import FileFormat
from loaders.source_tables import AZUREWARE, SourceTable
from loaders.sources.base import (FileInfo, SourceFile, UnknownObjectError, csv_batches, parquet_batches,
                                  parquet_info, read_csv_header)

# No final line break is required: SOURCE_FORMATS.md pins it for TMS extracts only, so a DMS file whose last
# record lacks one loads; a record cut short still fails its field count or leaves a quote open.
CSV_FORMAT = FileFormat("csv", header_rows=1, null_marker="NULL")
PARQUET_FORMAT = FileFormat("parquet")
EXTENSIONS = {".csv": "csv", ".parquet": "parquet"}


def identify(obj: LandedObject, rest: str, schema: str) -> SourceFile:
    """`rest` is the key after the DMS prefix: `<schema>/<Table>/<file>`."""
    parts = rest.split("/")
    if len(parts) != 3:
        raise UnknownObjectError(obj.key, f"not a DMS file: expected <schema>/<Table>/<file> under the DMS prefix, "
                                          f"found {len(parts)} path part(s)")
    schema_part, table_part, name = parts
    if schema_part != schema:
        raise UnknownObjectError(obj.key, f"unknown DMS schema folder {schema_part!r} (expected {schema!r})")
    table = _table(table_part)
    if table is None:
        known = ", ".join(t.name for t in AZUREWARE)
        raise UnknownObjectError(obj.key, f"unknown DMS table folder {table_part!r} (known: {known})")
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    fmt = EXTENSIONS.get(suffix)
    if fmt is None:
        raise UnknownObjectError(obj.key, f"unsupported DMS file type {suffix or '(no extension)'!r}: "
                                          "expected .csv or .parquet")
    return SourceFile(obj, "dms", table, fmt)


def _table(folder: str) -> SourceTable | None:
    for table in AZUREWARE:
        if table.name == folder:
            return table
    return None


def is_full_load(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    stem = name.split(".", 1)[0]
    return stem.startswith("LOAD") and len(stem) == 12 and all(c in "0123456789ABCDEF" for c in stem[4:])


def inspect(zone: LandingZone, sf: SourceFile) -> FileInfo:
    if sf.fmt == "parquet":
        return parquet_info(zone, sf.key, PARQUET_FORMAT)
    names = read_csv_header(zone, sf.key)
    return FileInfo(tuple(names), (None,) * len(names), CSV_FORMAT)


def record_batches(zone: LandingZone, sf: SourceFile, info: FileInfo) -> Iterator[pa.RecordBatch]:
    if sf.fmt == "parquet":
        return parquet_batches(zone, sf.key)
    return csv_batches(zone, sf.key, info.names, null_values=["NULL"])
