"""Records that cross the loaders' module lines: readers -> load core -> warehouse -> ledger -> report.

They hold no behaviour beyond formatting, so any module can depend on them without depending on
another's logic (readers know nothing of the warehouse, the warehouse nothing of source formats).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

import pyarrow as pa

from loaders.source_tables import SourceTable

LOADED = "loaded"
QUARANTINED = "quarantined"
DUPLICATE = "duplicate"  # the same bytes under the same key were loaded before (a re-upload): not loaded again
DONE = (LOADED, DUPLICATE)  # ledger statuses that settle an object for good
SKIPPED = "skipped"  # decided by another loader while this one waited for the lock; no ledger row
DEFERRED = "deferred"  # gone, or still being written: left for the next run; no ledger row


@dataclass(frozen=True)
class FileFormat:
    """How a landed file encodes its records, in words a COPY statement can be built from."""

    kind: str  # csv | json | parquet
    header_rows: int = 0  # csv: lines before the first record
    null_marker: str | None = None  # csv: the unquoted text that means NULL ('NULL' for DMS, '' for TMS)
    empty_is_null: bool = False  # csv: an empty field is NULL, quoted ("") or not, even for text columns (TMS)
    # csv: every record, the last one included, ends with a line break (TMS, pinned in SOURCE_FORMATS.md;
    # not promised for DMS): a file without a final one was cut short and is quarantined as truncated
    records_end_with_newline: bool = False
    # Text timestamps may end in a zone offset (ISO 8601 allows one; TMS and AppFlow promise UTC, `Z` for
    # AppFlow): loaded as the UTC time they mean. A warehouse ignores an offset in a timestamp column
    # without a zone, so a loader converts them first (see loaders/sources/base.py `offsets_to_utc`).
    zone_offsets: bool = False


@dataclass(frozen=True)
class FileColumn:
    """A column as a file holds it: its name there, the raw column it maps to, the raw type of its values."""

    name: str
    raw_name: str
    file_type: str  # a raw type that holds the file's values as they are (Parquet/JSON types; text: the raw type)


@dataclass(frozen=True)
class FileLoad:
    """One landed object, checked and ready to load into its raw table."""

    key: str
    etag: str  # S3's ETag; a local file has none: its checksum stands in (see `checksum`)
    size: int
    uri: str  # s3://bucket/key (what a Redshift manifest lists) or the local path
    columns: tuple[FileColumn, ...]  # in the file's order; record batches hold them in this order
    file_format: FileFormat
    record_batches: Callable[[], Iterator[pa.RecordBatch]]  # columns, then `_source_row` (int64)
    added_columns: tuple[tuple[str, str], ...] = ()  # (raw name, raw type) the table lacks: schema drift
    # The object's bytes as landed, for a warehouse that parses `file_format` itself (CSV into PostgreSQL).
    open_raw: Callable[[], BinaryIO] | None = None
    # The content checksum (`crc64nvme:<base64>`, landing.py), "" when not known yet: a warehouse that
    # streams the bytes computes it on the way, another one calls `resolve_checksum` before loading.
    checksum: str = ""
    resolve_checksum: Callable[[], str] | None = None
    # When the warehouse rejects the file: a structural reason and line if the file itself is malformed
    # (a truncated record makes a type error first; this names the truncation instead), else None.
    diagnose: Callable[[], tuple[str, int] | None] | None = None
    # Raw columns of this file whose type may widen when a value does not fit (loaders/evolution.py).
    widenable: frozenset[str] = frozenset()
    # Ledger batches that had decided this key when the run read the ledger: a decision by any other
    # batch was taken by another loader meanwhile, and this one then skips the object.
    known_batches: frozenset[str] = frozenset()
    # Whether the object is unchanged since discovery (size and modification time; None: cannot tell).
    unchanged: Callable[[], bool] | None = None
    # Columns where the format's NULL marker loads as its text (warehouse/base.py literal_null_columns).
    literal_nulls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Quarantine:
    """An object decided before loading: unusable (unknown table, bad header, incompatible schema, cut
    short), or, with status DUPLICATE, bytes already loaded under its key (a re-upload)."""

    key: str
    etag: str
    size: int
    reason: str
    line: int | None = None
    checksum: str = ""
    status: str = QUARANTINED
    known_batches: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Batch:
    """Files of one raw table (or only quarantines) committed in one transaction with their ledger rows."""

    batch_id: str
    table: SourceTable | None
    files: tuple[FileLoad, ...] = ()
    quarantines: tuple[Quarantine, ...] = ()


@dataclass(frozen=True)
class FileOutcome:
    """What a batch did with one object; the ledger row it wrote."""

    key: str
    etag: str
    size: int
    raw_table: str | None
    status: str  # loaded | quarantined | skipped
    batch_id: str
    rows: int = 0
    reason: str | None = None
    line: int | None = None
    added_columns: tuple[str, ...] = field(default=())
    checksum: str = ""
    widened: tuple[str, ...] = field(default=())  # evolution.describe() of each column this file widened

    def __str__(self) -> str:
        if self.status in (QUARANTINED, DEFERRED):
            where = f" (line {self.line})" if self.line is not None else ""
            return f"{self.key}: {self.reason}{where}"
        return f"{self.key}: {self.status}, {self.rows} rows"


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger row as read back: enough to decide whether an object is new."""

    key: str
    etag: str
    status: str
    batch_id: str
    reason: str | None = None
    checksum: str | None = None  # NULL in rows written before the ledger had the column
