"""The warehouse interface the load core talks to; PostgreSQL (local) and Redshift implement it.

The core hands over batches of checked files (`Batch` of `FileLoad`s); the warehouse loads each batch
in ONE transaction together with its ledger rows, under the load lock, after re-reading the ledger so
that a file another loader committed meanwhile is skipped. It knows nothing of source formats: a file is
its columns, a `FileFormat` (what a COPY needs), and a stream of Arrow record batches.

Crash-injection checkpoints (named steps, see loaders/crash.py) are called by both implementations:
`before_copy` (lock held, ledger re-checked, nothing written), `during_copy` (local: after the first
chunk of a file's COPY stream reached it), `after_copy` (every COPY and ledger row written, not
committed), `after_commit` (the batch is durable).

Why a warehouse rejected a file is said in one vocabulary for both targets (`rejection_reason`): the line,
the column and the kind of problem, never a value (PostgreSQL's messages and Redshift's load error
details quote the record; neither is copied into a reason).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Mapping, Sequence

from loaders.evolution import SqlType
from loaders.records import Batch, FileColumn, FileFormat, FileLoad, FileOutcome, LedgerEntry
from loaders.source_tables import SourceTable

Checkpoint = Callable[[str], None]
OnFile = Callable[[FileOutcome], None]


def prefer_diagnosis(f: FileLoad, reason: str, line: int | None,
                     structural: bool = False) -> tuple[str, int | None]:
    """The reason and line a rejected file is quarantined with. The file's own diagnosis (a malformed CSV:
    not UTF-8, a record with the wrong number of fields, an unterminated quote; its line is the file's
    physical line) replaces the warehouse's error when that error is itself structural (`structural`:
    PostgreSQL's bad_copy_file_format, the same problem, counted in records rather than lines) or names no
    line, or lies at or after the diagnosis: then the malformation stopped the file, and saying so beats
    the type error it caused. An earlier error of its own (a bad value on line 7 of a file cut short at
    line 26) stays: it is the first line that stopped the file."""
    diagnosis = f.diagnose() if f.diagnose is not None else None
    if diagnosis is not None and (structural or line is None or diagnosis[1] <= line):
        return diagnosis
    return reason, line


def _noop(*_args) -> None:
    return None


def op_check_name(table: SourceTable) -> str:
    """The check constraint (PostgreSQL) that refuses a DMS `Op` other than I, U or D."""
    return "unify_op_is_i_u_d"


OP_REASON = "column op: a DMS operation other than I, U or D"

# Kinds of problem a warehouse reports about a value or a record, and how a reason says them.
KIND_WORDS = {
    "invalid": "not a valid {type}",
    "range": "a number out of range for {type}",
    "length": "a value longer than {type}",
    "null": "no value where the source declares one (NOT NULL)",
    "op": OP_REASON,
    "missing_fields": "malformed CSV record: fields missing (truncated or corrupt file)",
    "extra_fields": "malformed CSV record: more fields than the header (corrupt file)",
    "open_quote": "malformed CSV: a quoted value is never closed (truncated or corrupt file)",
    "malformed": "malformed record (corrupt file)",
    "utf8": "not valid UTF-8 (corrupt file)",
    "nul": "a NUL character, which no text value can hold (corrupt file)",
    "too_large": "record too large",
}


# The same, when the warehouse does not say which column (an INSERT's error text on Redshift).
_UNNAMED = {"invalid": "a value its column's type refuses", "range": "a number out of its column's range",
            "length": "a value longer than its column allows"}


def reason_for(kind: str, column: str | None = None, type_: str | None = None) -> str:
    """A quarantine reason: the kind of problem and, when known, the column and its type; no value."""
    words = KIND_WORDS.get(kind)
    if words is None:
        return f"rejected by the warehouse ({kind})" + (f" in column {column}" if column else "")
    if "{type}" in words:
        if column is None or type_ is None:
            return f"column {column}: {_UNNAMED[kind]}" if column else _UNNAMED[kind]
        return f"column {column}: {words.format(type=type_)}"
    if kind in ("null", "nul") and column:
        return f"column {column}: {words}"
    return words


_PG_KINDS = {"22P02": "invalid", "22007": "invalid", "22008": "invalid", "22003": "range", "22001": "length",
             "23502": "null", "22021": "utf8", "54000": "too_large"}


def rejection_reason(sqlstate: str, column: str | None, type_: str | None, message: str,
                     constraint: str | None) -> str:
    """PostgreSQL's rejection of a value or record (SQLSTATE, and its primary message only to tell the
    three malformed-CSV cases apart: those messages never carry data) as a reason."""
    if sqlstate == "23514" and constraint == "unify_op_is_i_u_d":
        return reason_for("op")
    if sqlstate == "22P04":
        if message.startswith("missing data"):
            return reason_for("missing_fields")
        if message.startswith("extra data"):
            return reason_for("extra_fields")
        if "unterminated" in message:
            return reason_for("open_quote")
        return reason_for("malformed")
    if sqlstate == "22021" and message.endswith(": 0x00"):  # valid UTF-8 (a JSON "\\u0000"): a NUL character
        return reason_for("nul", column, type_)
    kind = _PG_KINDS.get(sqlstate)
    return reason_for(kind, column, type_) if kind else reason_for(f"SQLSTATE {sqlstate}", column)


class Warehouse(ABC):
    """Where raw tables, the ledger and the load lock live."""

    target: str = "?"

    @abstractmethod
    def describe(self) -> str:
        """Where it loads (a URL without secrets), for logs and the summary."""

    @abstractmethod
    def setup(self, tables: Sequence[SourceTable]) -> None:
        """Create what is missing (idempotent): ledger, raw schemas, raw tables, their contract columns."""

    @abstractmethod
    def table_columns(self, table: SourceTable) -> dict[str, str]:
        """The raw table's columns as they are now (raw name -> type), drift columns included."""

    @abstractmethod
    def ledger_entries(self, keys: Sequence[str]) -> dict[str, list[LedgerEntry]]:
        """Ledger rows of these object keys (empty when the ledger does not exist yet)."""

    @abstractmethod
    def load_batch(self, batch: Batch, checkpoint: Checkpoint = _noop, on_file: OnFile = _noop) -> list[FileOutcome]:
        """Load a batch and write its ledger rows in one transaction; return what became of each object."""

    @abstractmethod
    def newest_batches(self) -> dict[str, datetime]:
        """The newest commit time of a batch that wrote rows, per raw table (`raw_tms.shipments` -> ...)."""

    @abstractmethod
    def build_marks(self, dbt_schema: str) -> dict[str, datetime]:
        """What the last successful builds of `dbt_schema` were sure to see, per raw table (ledger.py
        BUILD_MARKS); empty when none was recorded."""

    @abstractmethod
    def record_build_marks(self, dbt_schema: str, marks: Mapping[str, datetime]) -> None:
        """Record, after a successful build of `dbt_schema`, the newest commit time per raw table that it
        was sure to see (replacing those raw tables' earlier marks; the others keep theirs)."""

    def close(self) -> None:  # noqa: B027 - optional
        return None


def raw_columns(table: SourceTable) -> list[tuple[str, str, bool]]:
    """(raw name, raw type, NOT NULL) of a raw table exactly as the contract (source_tables.py) defines it:
    delivery columns, source columns, metadata columns, each with its declared nullability. A delivered
    record with NULL where the source declares a value is rejected by the warehouse (the file is
    quarantined), so raw never silently holds what the contract rules out."""
    return [(c.raw_name, c.raw_type, not c.nullable) for c in table.all_columns]


def literal_null_columns(table: SourceTable, file_format: FileFormat, columns: Sequence[FileColumn]) -> tuple[str, ...]:
    """The file's columns where its NULL marker can only be the source's own text: the NOT NULL text columns
    of a CSV format that writes NULL as a marker (DMS's `NULL`). SOURCE_FORMATS.md: "a source value that is
    literally NULL is indistinguishable", and where the source declares a value (NOT NULL) it can only be
    that text, so it loads as 'NULL' (a customer's name, say) instead of quarantining the whole CDC file
    with every other change in it. Elsewhere the marker is NULL, and a NOT NULL number still refuses it.
    The loader works it out once per header (load.py `_prepare`) and hands it on as `FileLoad.literal_nulls`."""
    if file_format.kind != "csv" or not file_format.null_marker:
        return ()
    declared = {c.raw_name: c for c in table.columns}  # the source's columns: DMS's own (Op) are never text NULL
    return tuple(c.raw_name for c in columns
                 if (col := declared.get(c.raw_name)) is not None and not col.nullable
                 and SqlType.parse(col.raw_type).is_text)


def contract_types(table: SourceTable) -> Mapping[str, str]:
    return {name: raw_type for name, raw_type, _ in raw_columns(table)}


def key_columns(table: SourceTable) -> tuple[str, ...]:
    """The raw names of the table's primary-key columns (source_tables.py `primary_key`, lower-cased)."""
    return tuple(name.lower() for name in table.primary_key)


@dataclass(frozen=True)
class RawIndex:
    """A btree index of a raw table (PostgreSQL), for what dbt's incremental models look up."""

    name: str
    columns: tuple[str, ...]


def raw_indexes(table: SourceTable) -> tuple[RawIndex, ...]:
    """The indexes every local raw table has (created with it, and added to an existing one):

    - `<table>__loaded_at` on `_loaded_at`: an incremental model's "rows loaded since the high-water mark";
    - `<table>__key` on the primary-key columns: then "all versions of the changed keys" is an index lookup.

    Redshift has no such indexes: its raw tables are sorted by `_loaded_at` and distributed by a key
    column instead (`distribution_key`)."""
    return (RawIndex(f"{table.raw_table}__loaded_at", ("_loaded_at",)),
            RawIndex(f"{table.raw_table}__key", key_columns(table)))


def distribution_key(table: SourceTable) -> str:
    """The Redshift DISTKEY of a raw table: a primary-key column, so that staging's CDC window
    (`partition by <key>`) finds every version of a key on one slice, without redistribution.

    A single-column key is that column. Of a composite key, the last column: the contract lists the
    coarse column first and the fine one last (InventoryBalances: WarehouseId, ProductId), and a
    handful of warehouses would put all rows on a handful of slices, whereas thousands of products
    spread them; any column of the key keeps the window local, since it partitions by all of them."""
    return key_columns(table)[-1]
