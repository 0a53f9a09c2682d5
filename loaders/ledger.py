"""The load ledger: which landed object (key + ETag) was loaded or quarantined, by which batch.

Two append-only tables in schema `unify_loader`, written in the same transaction as the rows they
describe (so a raw row exists if and only if its ledger row does):

- `load_ledger`: one row per object per attempt that ended in a decision: `loaded` (with its row
  count and any columns its schema drift added) or `quarantined` (with the reason and, when known,
  `error_line`: the line of the landed file, 1-based with a CSV header as line 1, or the record number
  for Parquet). Reasons name the column but never quote a record (raw data holds personal data).
  An object is identified by (object_key, etag, size_bytes): the same key with a new ETag is
  a new object (the source re-wrote it) and is loaded again.
- `load_batches`: one row per committed batch: raw table, counts, when, which loader.

An object is *done* once any ledger row says `loaded`; it is never loaded twice. A quarantined object
is skipped by later runs until it is retried (`unify load --retry-quarantined`) or re-delivered with a
new ETag. Staging can restrict itself to committed batches by joining `_batch_id` to `load_batches`.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from loaders.landing import LandedObject
from loaders.records import LOADED, QUARANTINED, LedgerEntry

SCHEMA = "unify_loader"
LEDGER = "load_ledger"
BATCHES = "load_batches"

# (name, type, NOT NULL): valid in PostgreSQL and Redshift alike.
LEDGER_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("object_key", "varchar(1024)", True),
    ("etag", "varchar(128)", True),
    ("size_bytes", "bigint", True),
    ("status", "varchar(16)", True),  # loaded | quarantined
    ("raw_table", "varchar(256)", False),  # raw_<system>.<table>; NULL when the key names no table
    ("rows_loaded", "bigint", False),
    ("batch_id", "varchar(64)", True),
    ("reason", "varchar(4096)", False),
    ("error_line", "bigint", False),
    ("columns_added", "varchar(4096)", False),
    ("recorded_at", "timestamp", True),
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
LEDGER_INSERT_COLUMNS = tuple(name for name, _, _ in LEDGER_COLUMNS)


def column_defs(columns: Iterable[tuple[str, str, bool]], quote) -> str:
    return ", ".join(f"{quote(name)} {type_} {'not null' if not_null else 'null'}" for name, type_, not_null in columns)


def is_done(entries: Sequence[LedgerEntry], obj: LandedObject) -> bool:
    """True when this exact object (key and ETag) has been loaded."""
    return any(e.etag == obj.etag and e.status == LOADED for e in entries)


def quarantined_before(entries: Sequence[LedgerEntry], obj: LandedObject) -> LedgerEntry | None:
    """The latest quarantine of this exact object, when it has never been loaded."""
    if is_done(entries, obj):
        return None
    found = [e for e in entries if e.etag == obj.etag and e.status == QUARANTINED]
    return found[-1] if found else None


def limit_text(text: str | None, limit_bytes: int = 4096) -> str | None:
    """Cut a reason to fit varchar(4096) (Redshift counts bytes, not characters)."""
    if text is None:
        return None
    data = text.encode("utf-8")
    if len(data) <= limit_bytes:
        return text
    return data[: limit_bytes - 3].decode("utf-8", errors="ignore") + "..."
