"""TMS daily extracts: `<prefix>/<extract>/dt=YYYY-MM-DD/<extract>-<YYYYMMDD>.csv`.

UTF-8 CSV with a header row, RFC 4180 quoting, an empty field means NULL, timestamps ISO 8601 in UTC.
Each day's file holds the rows created or changed that day; `updated_at` orders versions. A timestamp
written with a zone offset all the same (ISO 8601 allows `+02:00`) loads as the UTC time it means.
"""

from __future__ import annotations

from datetime import date
from typing import Iterator

import pyarrow as pa

from loaders.landing import LandedObject, LandingZone
from loaders.records import FileFormat
from loaders.source_tables import TMS
from loaders.sources.base import (FileInfo, SourceFile, UnknownObjectError, csv_batches, offsets_to_utc,
                                  read_csv_header)

CSV_FORMAT = FileFormat("csv", header_rows=1, null_marker="", empty_is_null=True,
                        records_end_with_newline=True, zone_offsets=True)


def identify(obj: LandedObject, rest: str) -> SourceFile:
    """`rest` is the key after the TMS prefix: `<extract>/dt=YYYY-MM-DD/<file>.csv`."""
    parts = rest.split("/")
    if len(parts) != 3:
        raise UnknownObjectError(obj.key, "not a TMS extract: expected <extract>/dt=YYYY-MM-DD/<file>.csv "
                                          "under the TMS prefix")
    extract, partition, name = parts
    table = next((t for t in TMS if t.name == extract), None)
    if table is None:
        known = ", ".join(t.name for t in TMS)
        raise UnknownObjectError(obj.key, f"unknown TMS extract {extract!r} (known: {known})")
    if not partition.startswith("dt="):
        raise UnknownObjectError(obj.key, f"TMS partition folder {partition!r} is not dt=YYYY-MM-DD")
    try:
        date.fromisoformat(partition[3:])
    except ValueError:
        raise UnknownObjectError(obj.key, f"TMS partition folder {partition!r} is not dt=YYYY-MM-DD") from None
    if not name.lower().endswith(".csv"):
        raise UnknownObjectError(obj.key, f"unsupported TMS file {name!r}: extracts are .csv files")
    return SourceFile(obj, "tms", table, "csv")


def inspect(zone: LandingZone, sf: SourceFile) -> FileInfo:
    names = read_csv_header(zone, sf.key)
    return FileInfo(tuple(names), (None,) * len(names), CSV_FORMAT)


def record_batches(zone: LandingZone, sf: SourceFile, info: FileInfo) -> Iterator[pa.RecordBatch]:
    batches = csv_batches(zone, sf.key, info.names, null_values=[""], quoted_null=CSV_FORMAT.empty_is_null)
    return (offsets_to_utc(sf.key, batch, sf.table) for batch in batches)
