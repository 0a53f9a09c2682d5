"""The load ledger: which landed object (key + content) was loaded or quarantined, by which batch.

Two append-only tables in schema `unify_loader`, written in the same transaction as the rows they
describe (so a raw row exists if and only if its ledger row does):

- `load_ledger`: one row per object per attempt that ended in a decision: `loaded` (with its row
  count, any columns its schema drift added, `columns_added`, and any it widened, `columns_widened`),
  `quarantined` (with the reason and, when known, `error_line`: the line of the landed file, 1-based
  with a CSV header as line 1, or the record number for Parquet), or `duplicate` (a new upload of bytes
  already loaded under the same key: recorded, not loaded). Reasons say the line, the column and the
  kind of problem, never a value (raw data holds personal data).
- `load_batches`: one row per committed batch: raw table, counts, when, which loader.

And one table the load cycle writes (`unify cycle`, docs/operations.md), not the loaders:

- `build_marks`: per dbt schema and raw table, the newest batch commit time a build of that dbt schema
  was sure to see (read before it started), recorded when it succeeded: which raw tables have data that
  no successful build has read yet (the warehouse targets' `newest_batches` against it) decides how much
  the next cycle builds.

Identity is content, not upload history: an object is its key plus its `content_checksum`, the
CRC-64/NVME of its bytes (S3's full-object checksum when S3 has one, else computed while the bytes
stream; landing.py). The same bytes uploaded again under the same key (a multipart upload gets a new
ETag) are a `duplicate`; changed bytes under the same key are a new delivery and load. Rows written
before the ledger had the column (NULL checksum) keep working through their ETag: S3's, or locally the
MD5 of the bytes. `etag` is S3's ETag (a local file has none: its checksum is written there too).

An object is *done* once a ledger row says `loaded` or `duplicate`; it is never loaded twice. A
quarantined object is skipped by later runs until it is retried (`unify load --retry-quarantined`) or
re-delivered with new content. Staging can restrict itself to committed batches by joining `_batch_id`
to `load_batches`.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from loaders.records import DONE, QUARANTINED, LedgerEntry

SCHEMA = "unify_loader"
LEDGER = "load_ledger"
BATCHES = "load_batches"

# (name, type, NOT NULL): valid in PostgreSQL and Redshift alike.
LEDGER_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("object_key", "varchar(1024)", True),
    ("etag", "varchar(128)", True),
    ("size_bytes", "bigint", True),
    ("status", "varchar(16)", True),  # loaded | quarantined | duplicate
    ("raw_table", "varchar(256)", False),  # raw_<system>.<table>; NULL when the key names no table
    ("rows_loaded", "bigint", False),
    ("batch_id", "varchar(64)", True),
    ("reason", "varchar(4096)", False),
    ("error_line", "bigint", False),
    ("columns_added", "varchar(4096)", False),
    ("recorded_at", "timestamp", True),
    # Added after the first release: an existing ledger gets them (nullable) at set-up, old rows keep NULL.
    ("content_checksum", "varchar(128)", False),
    ("columns_widened", "varchar(4096)", False),
)
BATCH_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("batch_id", "varchar(64)", True),
    ("raw_table", "varchar(256)", False),
    ("files_loaded", "integer", True),
    ("files_quarantined", "integer", True),
    ("rows_loaded", "bigint", True),
    ("committed_at", "timestamp", True),
    ("loader", "varchar(256)", True),  # host, pid, target
)
BUILD_MARKS = "build_marks"
BUILD_MARK_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("dbt_schema", "varchar(128)", True),      # the build's target schema: environments share raw tables
    ("raw_table", "varchar(256)", True),       # raw_<system>.<table>, as load_batches.raw_table
    ("consumed_through", "timestamp", True),   # max(load_batches.committed_at) of the table before the build
    ("recorded_at", "timestamp", True),
)
WIDENED_SEPARATOR = "; "  # between the changes in columns_widened ("weight_kg numeric(12,3)->numeric(15,3)")
LEDGER_INSERT_COLUMNS = tuple(name for name, _, _ in LEDGER_COLUMNS)


def column_defs(columns: Iterable[tuple[str, str, bool]], quote) -> str:
    return ", ".join(f"{quote(name)} {type_} {'not null' if not_null else 'null'}" for name, type_, not_null in columns)


def same_object(entry: LedgerEntry, etag: str, checksum: str | None, md5: str | None = None) -> bool:
    """Whether a ledger row is about these bytes: the same content checksum; for a row written before the
    ledger had checksums, the same ETag (S3) or MD5 (a local file: what the old loader wrote as its ETag).
    The same S3 ETag means the same bytes in any case."""
    if checksum and entry.checksum:
        return entry.checksum == checksum
    if etag and entry.etag == etag:
        return True
    return bool(md5) and not entry.checksum and entry.etag == md5


def decided(entries: Sequence[LedgerEntry], etag: str, checksum: str | None, md5: str | None = None,
            statuses: Sequence[str] = DONE) -> LedgerEntry | None:
    """The latest ledger row about these bytes with one of `statuses` (default: settled for good)."""
    found = [e for e in entries if e.status in statuses and same_object(e, etag, checksum, md5)]
    return found[-1] if found else None


def quarantined_before(entries: Sequence[LedgerEntry], etag: str, checksum: str | None,
                       md5: str | None = None) -> LedgerEntry | None:
    """The latest quarantine of these bytes, when they have never been loaded."""
    if decided(entries, etag, checksum, md5) is not None:
        return None
    return decided(entries, etag, checksum, md5, (QUARANTINED,))


def limit_text(text: str | None, limit_bytes: int = 4096) -> str | None:
    """Cut a reason to fit varchar(4096) (Redshift counts bytes, not characters)."""
    if text is None:
        return None
    data = text.encode("utf-8")
    if len(data) <= limit_bytes:
        return text
    return data[: limit_bytes - 3].decode("utf-8", errors="ignore") + "..."

