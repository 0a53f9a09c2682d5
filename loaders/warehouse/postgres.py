"""The local target: PostgreSQL, loaded with `COPY ... FROM STDIN` streamed from the landed files.

One batch = one transaction:

    BEGIN
      pg_try_advisory_xact_lock(load lock)          -- waits, logging who holds it; gives up after lock_wait_s
      the batch's _loaded_at: greatest(clock_timestamp(), newest batch's + 1 µs)
                                                     -- read after the lock: rises in commit order (below)
      re-read the ledger for the batch's objects     -- skip what another loader decided meanwhile
      per file: SAVEPOINT; set the load context (key; the row sequence back to 1);
                [ALTER TABLE ADD COLUMN / ALTER COLUMN TYPE for schema evolution];
                COPY raw (file columns) FROM STDIN (CSV, as landed); RELEASE
                                                     -- a rejected file rolls back to its savepoint
      INSERT ledger rows (loaded / quarantined / duplicate), INSERT the batch row
    COMMIT

One COPY per file, the file's bytes as landed: PostgreSQL's own RFC 4180 parser reads them (as Redshift's
COPY reads the same files) and rejects a malformed record or a value its raw type refuses, with the line.
The loader does no per-record work: a second thread reads the file in 1 MB chunks, computes the content
checksum (CRC-64/NVME, C) and checks that no line exceeds MAX_RECORD_BYTES, while COPY parses.
JSON Lines and Parquet (AppFlow, DMS Parquet) are read by pyarrow and written as CSV, with their
`_source_row`.

The metadata columns are not in the data. Their defaults read the load context set before each COPY:
`_source_key`, `_batch_id` and `_loaded_at` through IMMUTABLE functions that PostgreSQL folds once when it
plans the COPY (constant folding of defaults), `_source_row` as `nextval()` of a temporary sequence of the
session, reset to 1 before each file: COPY evaluates defaults row by row in file order, so the warehouse
numbers the records in file order (and `nextval` is the one volatile default COPY still batch-inserts).
Outside a load the functions raise, so nothing but the loader can write raw rows without naming their origin.

`_loaded_at` rises strictly in commit order: it is read right after the load lock is granted, and the lock
is held until the batch commits, so every batch that committed before is visible then; the stamp is the
clock (clock_timestamp()), or 1 µs after the newest committed batch's stamp (load_batches.committed_at,
indexed) when the clock is not past it, i.e. when it stepped back (logged). A batch that commits after
another therefore carries a later `_loaded_at`, whatever the clock does, and a dbt model that has seen rows
up to T misses no batch with rows stamped at or before T: its lookback can be 0 (docs/loaders.md).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import queue
import re
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Callable, Iterator, Mapping, Sequence

import psycopg2
import psycopg2.errors
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg2 import sql
from psycopg2.extras import execute_values

from loaders import evolution, ledger
from loaders.config import Settings
from loaders.errors import LoadFailure, LockTimeout, QuarantineError, clean_text
from loaders.landing import ContentHash, LandingNotFound
from loaders.logs import log_event
from loaders.records import (DEFERRED, DONE, LOADED, QUARANTINED, SKIPPED, Batch, FileLoad, FileOutcome,
                             LedgerEntry)
from loaders.source_tables import SourceTable
from loaders.sources.base import (MAX_RECORD_BYTES, STRAY_QUOTE_REASON, StrayQuotes, csv_record_count,
                                  line_at)
from loaders.warehouse.base import (Checkpoint, OnFile, Warehouse, _noop, op_check_name,
                                    prefer_diagnosis, raw_columns, raw_indexes, rejection_reason)

log = logging.getLogger("loaders.warehouse.postgres")

STAMP_STEP = timedelta(microseconds=1)  # the timestamp type's resolution (PostgreSQL and Redshift)
CLOCK_BEHIND_WARNING = timedelta(seconds=1)  # a clock this far behind the last stamp is logged as a warning

# The ledger's indexes, (name, table, definition): the ledger grows by every landed file, forever. By key
# (discovery), by time (the load tests read the last day), the quarantines alone (the ledger tests read
# them on every cycle); the batches by commit time (every batch reads the newest stamp: _stamp below).
LEDGER_INDEXES = (
    ("load_ledger_object_key", ledger.LEDGER, "(object_key)"),
    ("load_ledger_recorded_at", ledger.LEDGER, "(recorded_at)"),
    ("load_ledger_quarantined", ledger.LEDGER, "(raw_table, recorded_at) where status = 'quarantined'"),
    ("load_batches_committed_at", ledger.BATCHES, "(committed_at)"),
)

LOCK_KEY = 0x756E6966796C6F61  # "unifyloa": the advisory lock every loader takes per batch
FUNCTIONS_VERSION = "unify-loader-functions v4"  # bump when _FUNCTIONS change: setup re-creates them
CONTEXT_PREFIX = "unify_load."
ROW_SEQUENCE = "unify_source_row"  # a temporary sequence of the loader's session: _source_row
_META_DEFAULTS = {
    "_source_key": "unify_loader.load_context('source_key'::text)",
    "_source_row": "nextval(unify_loader.source_row_sequence())",
    "_batch_id": "unify_loader.load_context('batch_id'::text)",
    "_loaded_at": "unify_loader.load_context_ts()",
}
_FUNCTIONS = f"""
create or replace function unify_loader.load_context(name text) returns text
    language plpgsql immutable
as $fn$
declare
    value text := current_setting('{CONTEXT_PREFIX}' || name, true);
begin
    if value is null or value = '' then
        raise exception 'raw tables are written by the unify loader only: no load context "%" is set', name
            using hint = 'load files with `unify load`; see loaders/warehouse/postgres.py';
    end if;
    return value;
end
$fn$;
comment on function unify_loader.load_context(text) is
    'Load context (source_key, batch_id) set by the loader with set_config before each COPY. Declared '
    'IMMUTABLE on purpose: PostgreSQL folds it once per COPY when planning column defaults. Use it only '
    'as a raw-table column default.';
create or replace function unify_loader.load_context_ts() returns timestamp
    language plpgsql immutable
as $fn$
declare
    value text := current_setting('{CONTEXT_PREFIX}loaded_at', true);
begin
    -- current_setting directly: calling the immutable load_context here would be folded into the
    -- plan plpgsql caches for the session, and every later batch would get the first one's time.
    if value is null or value = '' then
        raise exception 'raw tables are written by the unify loader only: no load context "loaded_at" is set';
    end if;
    return value::timestamp;
end
$fn$;
comment on function unify_loader.load_context_ts() is
    '{FUNCTIONS_VERSION}: the time the batch got the load lock (UTC), the raw rows'' _loaded_at; see load_context.';
create or replace function unify_loader.source_row_sequence() returns regclass
    language plpgsql immutable
as $fn$
declare
    found regclass := to_regclass('pg_temp.{ROW_SEQUENCE}');
begin
    if found is null then
        raise exception 'raw tables are written by the unify loader only: no row sequence in this session'
            using hint = 'load files with `unify load`; see loaders/warehouse/postgres.py';
    end if;
    return found;
end
$fn$;
comment on function unify_loader.source_row_sequence() is
    'The loader session''s temporary sequence that numbers a file''s records (_source_row), reset to 1 before '
    'each COPY. IMMUTABLE on purpose: folded once per COPY, so the default is a plain nextval().';
"""
# SQLSTATE classes that mean "this file's data is unacceptable" (quarantine), not "the run cannot go on".
_DATA_ERROR_CLASSES = ("22", "23", "54")
_BAD_COPY_FILE_FORMAT = "22P04"  # missing or extra columns, an unterminated quoted field
# A value the column's type refused: invalid text, out of range, too long. Datetimes never widen.
_WIDENING_CODES = ("22P02", "22003", "22001")


class PostgresWarehouse(Warehouse):
    target = "postgres"

    def __init__(self, settings: Settings, *, lock_wait_s: float = 600.0, connect_attempts: int = 5,
                 statement_timeout_s: float | None = None):
        self.settings = settings
        self.lock_wait_s = lock_wait_s
        self.loader_name = f"{socket.gethostname()} pid {os.getpid()} postgres"
        self.conn = self._connect(connect_attempts, statement_timeout_s)
        self._release = ""  # the last file's savepoint, released with the next statement (one round trip less)

    # ------------------------------------------------------------------------------ connection
    def _connect(self, attempts: int, statement_timeout_s: float | None):
        delay = 0.5
        for attempt in range(1, attempts + 1):
            try:
                options = f"-c statement_timeout={int(statement_timeout_s * 1000)}" if statement_timeout_s else None
                name = f"unify-load {socket.gethostname()[:24]} pid={os.getpid()}"
                conn = psycopg2.connect(self.settings.dsn(), connect_timeout=10, application_name=name,
                                        options=options)
                conn.autocommit = False
                return conn
            except psycopg2.OperationalError as err:
                if attempt == attempts:
                    raise LoadFailure(f"cannot connect to the warehouse at {self.settings.url()}: "
                                      f"{str(err).strip()}") from None
                log_event(log, "warehouse_connect_retry", logging.WARNING, attempt=attempt,
                          error=str(err).strip().splitlines()[0])
                time.sleep(delay)
                delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")

    def describe(self) -> str:
        return self.settings.url()

    def close(self) -> None:
        try:
            self.conn.close()
        except psycopg2.Error:
            pass

    # ------------------------------------------------------------------------------ setup
    def setup(self, tables: Sequence[SourceTable]) -> None:
        if not self._setup_needed(tables):
            return
        try:
            with self.conn.cursor() as cur:
                self._lock(cur, "setup")
                cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(ledger.SCHEMA)))
                cur.execute(_FUNCTIONS)
                for name, columns in ((ledger.LEDGER, ledger.LEDGER_COLUMNS), (ledger.BATCHES, ledger.BATCH_COLUMNS)):
                    table = sql.Identifier(ledger.SCHEMA, name)
                    cur.execute(sql.SQL("create table if not exists {} ({})").format(
                        table, sql.SQL(ledger.column_defs(columns, _quote))))
                    for column, type_, _not_null in columns:  # a ledger from before a column existed
                        cur.execute(sql.SQL("alter table {} add column if not exists {} " + type_).format(
                            table, sql.Identifier(column)))
                for index, table_name, definition in LEDGER_INDEXES:
                    cur.execute(sql.SQL("create index if not exists {} on {}.{} " + definition).format(
                        sql.Identifier(index), sql.Identifier(ledger.SCHEMA), sql.Identifier(table_name)))
                schemas = {t.raw_schema for t in tables}
                existing = self._existing_columns(cur, schemas)
                indexes = self._existing_indexes(cur, schemas)
                checks = self._existing_checks(cur, schemas)
                for table in tables:
                    self._ensure_table(cur, table, existing.get((table.raw_schema, table.raw_table)), checks)
                    self._ensure_indexes(cur, table, indexes)
            self.conn.commit()
        except psycopg2.Error as err:
            self._rollback()
            raise LoadFailure(f"cannot create the ledger and raw tables in {self.describe()}: {err}") from None
        except BaseException:
            self._rollback()
            raise
        log_event(log, "warehouse_setup", target=self.target, tables=len(tables))

    def _setup_needed(self, tables: Sequence[SourceTable]) -> bool:
        with self.conn.cursor() as cur:
            cur.execute("select coalesce(obj_description(to_regprocedure('unify_loader.load_context_ts()'), "
                        "'pg_proc') like %s, false), "
                        "to_regclass('unify_loader.load_ledger') is not null, "
                        "to_regclass('unify_loader.load_batches') is not null", (FUNCTIONS_VERSION + ":%",))
            if not all(cur.fetchone()):
                self.conn.rollback()
                return True
            schemas = {t.raw_schema for t in tables} | {ledger.SCHEMA}
            existing = self._existing_columns(cur, schemas)
            indexes = self._existing_indexes(cur, schemas)
            checks = self._existing_checks(cur, schemas)
        self.conn.rollback()
        for name, columns in ((ledger.LEDGER, ledger.LEDGER_COLUMNS), (ledger.BATCHES, ledger.BATCH_COLUMNS)):
            if any(c not in existing.get((ledger.SCHEMA, name), {}) for c, _t, _n in columns):
                return True
        if any((ledger.SCHEMA, index) not in indexes for index, _table, _definition in LEDGER_INDEXES):
            return True
        for table in tables:
            columns = existing.get((table.raw_schema, table.raw_table))
            if columns is None:
                return True
            if any((table.raw_schema, index.name) not in indexes for index in raw_indexes(table)):
                return True
            if _has_op(table) and (table.raw_schema, table.raw_table, op_check_name(table)) not in checks:
                return True
            for name, type_, _nn in raw_columns(table):
                if name not in columns or (name in _META_DEFAULTS and columns[name][1] is None):
                    return True
                if _contract_widens(columns[name][0], type_):
                    return True
        return False

    @staticmethod
    def _existing_columns(cur, schemas: set[str]) -> dict[tuple[str, str], dict[str, tuple[str, str | None]]]:
        cur.execute(
            """
            select n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                   pg_get_expr(d.adbin, d.adrelid)
            from pg_class c
            join pg_namespace n on n.oid = c.relnamespace
            join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
            left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
            where c.relkind in ('r', 'p') and n.nspname = any(%s)
            order by n.nspname, c.relname, a.attnum
            """,
            (sorted(schemas),),
        )
        found: dict[tuple[str, str], dict[str, tuple[str, str | None]]] = {}
        for schema, table, column, type_, default in cur.fetchall():
            found.setdefault((schema, table), {})[column] = (type_, default)
        return found

    @staticmethod
    def _existing_indexes(cur, schemas: set[str]) -> set[tuple[str, str]]:
        cur.execute("select schemaname, indexname from pg_indexes where schemaname = any(%s)", (sorted(schemas),))
        return set(cur.fetchall())

    @staticmethod
    def _existing_checks(cur, schemas: set[str]) -> set[tuple[str, str, str]]:
        cur.execute("select n.nspname, c.relname, k.conname from pg_constraint k join pg_class c on c.oid = k.conrelid "
                    "join pg_namespace n on n.oid = c.relnamespace where k.contype = 'c' and n.nspname = any(%s)",
                    (sorted(schemas),))
        return set(cur.fetchall())

    @staticmethod
    def _ensure_indexes(cur, table: SourceTable, existing: set[tuple[str, str]]) -> None:
        """The raw table's btree indexes (warehouse/base.py `raw_indexes`), on a new or an existing table."""
        for index in raw_indexes(table):
            if (table.raw_schema, index.name) in existing:
                continue
            cur.execute(sql.SQL("create index if not exists {} on {} using btree ({})").format(
                sql.Identifier(index.name), sql.Identifier(table.raw_schema, table.raw_table),
                sql.SQL(", ").join(map(sql.Identifier, index.columns))))
            log_event(log, "raw_index_created", table=table.qualified_raw_name, index=index.name,
                      columns=",".join(index.columns))

    def _ensure_table(self, cur, table: SourceTable, columns: dict[str, tuple[str, str | None]] | None,
                      checks: set[tuple[str, str, str]]) -> None:
        ident = sql.Identifier(table.raw_schema, table.raw_table)
        if columns is None:
            cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(table.raw_schema)))
            defs = []
            for name, type_, not_null in raw_columns(table):
                default = f" default {_META_DEFAULTS[name]}" if name in _META_DEFAULTS else ""
                defs.append(f"{_quote(name)} {type_}{' not null' if not_null else ''}{default}")
            if _has_op(table):
                defs.append(f"constraint {_quote(op_check_name(table))} check (op in ('I', 'U', 'D'))")
            cur.execute(sql.SQL("create table if not exists {} ({})").format(ident, sql.SQL(", ".join(defs))))
            cur.execute(sql.SQL("comment on table {} is {}").format(
                ident, sql.Literal(f"{table.description}. Append-only raw deliveries of {table.system}.{table.name}, "
                                   "written by the unify loaders.")))
            log_event(log, "raw_table_created", table=table.qualified_raw_name)
            return
        for name, type_, _not_null in raw_columns(table):
            if name not in columns:  # a column the contract gained: nullable, no default on existing rows
                cur.execute(sql.SQL("alter table {} add column if not exists {} " + type_).format(
                    ident, sql.Identifier(name)))
                log_event(log, "raw_column_added", table=table.qualified_raw_name, column=name, type=type_,
                          reason="contract")
            elif _contract_widens(columns[name][0], type_):  # the contract widened it (TMS ids: text)
                try:
                    self._widen(cur, table, name, type_)
                    log_event(log, "raw_column_widened", table=table.qualified_raw_name, column=name,
                              change=evolution.describe(name, columns[name][0], type_), reason="contract")
                except _WidenBlocked as blocked:
                    log_event(log, "raw_column_not_widened", logging.WARNING, table=table.qualified_raw_name,
                              column=name, reason=blocked.reason)
            if name in _META_DEFAULTS and (name not in columns or columns[name][1] is None):
                cur.execute(sql.SQL("alter table {} alter column {} set default " + _META_DEFAULTS[name]).format(
                    ident, sql.Identifier(name)))
        if _has_op(table) and (table.raw_schema, table.raw_table, op_check_name(table)) not in checks:
            # NOT VALID: rows already loaded are not re-read; every new row is checked
            cur.execute(sql.SQL("alter table {} add constraint {} check (op in ('I', 'U', 'D')) not valid").format(
                ident, sql.Identifier(op_check_name(table))))

    # ------------------------------------------------------------------------------ schema evolution
    def _widen(self, cur, table: SourceTable, column: str, new_type: str) -> None:
        """ALTER a raw column to a wider type, in the current transaction, under a savepoint of its own.
        PostgreSQL refuses to change the type of a column a view reads (dbt's staging views read raw
        tables), so the views that depend on the table, directly or through other views, are dropped and
        recreated around the ALTER as they were: definition, options, owner, privileges, comments. When a
        view cannot be recreated over the wider type (or is a materialized view), everything is rolled
        back to the savepoint and _WidenBlocked says why."""
        ident = sql.Identifier(table.raw_schema, table.raw_table)
        views = self._dependent_views(cur, table)
        for view in views:
            if view.kind != "v":
                raise _WidenBlocked(f"column {column} needs {new_type}, but materialized view {view.name} reads "
                                    "the table (widen the column and refresh the view by hand)")
        cur.execute("savepoint unify_widen; set local lock_timeout = '60s'")  # dbt may be reading: wait, then fail
        view = None
        try:
            for view in reversed(views):
                cur.execute(sql.SQL("drop view {}").format(sql.Identifier(view.schema, view.name)))
            view = None
            cur.execute(sql.SQL("alter table {} alter column {} type " + new_type + " using {}::" + new_type).format(
                ident, sql.Identifier(column), sql.Identifier(column)))
            for view in views:
                view.create(cur)
        except psycopg2.Error as err:
            if err.pgcode == "55P03" or view is None:  # the lock was not granted, or the ALTER failed: the run
                raise
            self._undo(cur, "unify_widen")
            raise _WidenBlocked(f"column {column} needs {new_type}, but view {view.schema}.{view.name} that reads it "
                                "cannot be recreated over the wider type "
                                f"({clean_text(err.diag.message_primary or '', 120)})") from None
        cur.execute("release savepoint unify_widen; set local lock_timeout = 0")

    @staticmethod
    def _dependent_views(cur, table: SourceTable) -> list["_View"]:
        """Views reading the table, directly or through other views, those read first first."""
        cur.execute(
            """
            with recursive deps(oid, depth) as (
                select r.ev_class, 1
                from pg_depend d join pg_rewrite r on r.oid = d.objid
                where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
                  and d.refobjid = %s::regclass and r.ev_class <> d.refobjid
              union
                select r.ev_class, deps.depth + 1
                from deps join pg_depend d on d.refobjid = deps.oid join pg_rewrite r on r.oid = d.objid
                where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
                  and r.ev_class <> deps.oid and deps.depth < 50
            )
            select n.nspname, c.relname, c.relkind, pg_get_viewdef(c.oid), c.reloptions,
                   pg_get_userbyid(c.relowner), obj_description(c.oid, 'pg_class'),
                   (select coalesce(array_agg(array[a.attname::text, col_description(c.oid, a.attnum)]), '{}')
                    from pg_attribute a where a.attrelid = c.oid and a.attnum > 0
                      and col_description(c.oid, a.attnum) is not null),
                   (select coalesce(array_agg(array[case when x.grantee = 0 then 'public'
                                                       else quote_ident(pg_get_userbyid(x.grantee)) end,
                                                  x.privilege_type, x.is_grantable::text]), '{}')
                    from aclexplode(c.relacl) x where x.grantee <> c.relowner),
                   max(deps.depth)
            from deps join pg_class c on c.oid = deps.oid join pg_namespace n on n.oid = c.relnamespace
            group by c.oid, n.nspname, c.relname, c.relkind, c.reloptions, c.relowner, c.relacl
            order by max(deps.depth), n.nspname, c.relname
            """,
            (f'"{table.raw_schema}"."{table.raw_table}"',))
        return [_View(*row[:9]) for row in cur.fetchall()]

    def _needed_widenings(self, cur, table: SourceTable, f: FileLoad,
                          columns: Mapping[str, str]) -> list[tuple[str, str, str]] | None:
        """Profile the file in the warehouse (copied into a scratch table of text columns, under a savepoint
        rolled back afterwards) and return the widenings (column, old type, new type) that let every value
        of its widenable columns fit; None when some value fits no type of the ladder (evolution.py)."""
        targets = [c.raw_name for c in f.columns if c.raw_name in f.widenable and c.raw_name in columns]
        if not targets:
            return None
        names = [c.raw_name for c in f.columns] + ([] if _as_landed(f) else ["_source_row"])
        cur.execute("savepoint unify_profile")
        try:
            cur.execute(sql.SQL("create temp table unify_profile ({}) on commit drop").format(
                sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(n)) for n in names)))
            statement, stream = self._copy_statement(sql.Identifier("unify_profile"), f, names, hashed=False,
                                                     zones=False)  # text columns: an offset is only text
            try:
                cur.copy_expert(statement, stream, size=1 << 20)
            finally:
                stream.close()
            cur.execute(evolution.profile_sql("unify_profile", targets, _quote, _literal))
            profiles = evolution.read_profile(cur.fetchone(), targets)
        except psycopg2.Error:
            return None  # the file does not even parse as text columns: not a type problem
        finally:
            self._undo(cur, "unify_profile")
        widenings = []
        for name in targets:
            new = evolution.widened_type(columns[name], profiles[name])
            if new is None:
                return None
            if not evolution.same_type(new, columns[name]):
                widenings.append((name, columns[name], new))
        return widenings or None

    # ------------------------------------------------------------------------------ reads
    def table_columns(self, table: SourceTable) -> dict[str, str]:
        with self.conn.cursor() as cur:
            columns = self._columns_now(cur, table)
        self.conn.rollback()
        return columns

    @staticmethod
    def _columns_now(cur, table: SourceTable) -> dict[str, str]:
        cur.execute(
            """
            select a.attname, format_type(a.atttypid, a.atttypmod)
            from pg_attribute a
            where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped
            order by a.attnum
            """,
            (f'"{table.raw_schema}"."{table.raw_table}"',),
        )
        return dict(cur.fetchall())

    def ledger_entries(self, keys: Sequence[str]) -> dict[str, list[LedgerEntry]]:
        found: dict[str, list[LedgerEntry]] = {}
        if not keys:
            return found
        with self.conn.cursor() as cur:
            cur.execute("select to_regclass('unify_loader.load_ledger') is not null, exists (select 1 from "
                        "pg_attribute where attrelid = to_regclass('unify_loader.load_ledger') "
                        "and attname = 'content_checksum' and not attisdropped)")
            present, migrated = cur.fetchone()
            if not present:
                self.conn.rollback()
                return found
            for start in range(0, len(keys), 5000):
                found.update(self._ledger_rows(cur, list(keys[start:start + 5000]), migrated))
        self.conn.rollback()
        return found

    # ------------------------------------------------------------------------------ the cycle's build marks
    def newest_batches(self) -> dict[str, datetime]:
        with self.conn.cursor() as cur:
            cur.execute("select to_regclass(%s) is not null", (f"{ledger.SCHEMA}.{ledger.BATCHES}",))
            rows = []
            if cur.fetchone()[0]:
                # raw_table is raw_<system>.<table>; a batch of quarantines or empty files wrote no rows
                cur.execute(sql.SQL("select raw_table, max(committed_at) from {} "
                                    "where rows_loaded > 0 group by raw_table")
                            .format(sql.Identifier(ledger.SCHEMA, ledger.BATCHES)))
                rows = cur.fetchall()
        self.conn.rollback()
        return dict(rows)

    def build_marks(self, dbt_schema: str) -> dict[str, datetime]:
        with self.conn.cursor() as cur:
            cur.execute("select to_regclass(%s) is not null", (f"{ledger.SCHEMA}.{ledger.BUILD_MARKS}",))
            rows = []
            if cur.fetchone()[0]:
                cur.execute(sql.SQL("select raw_table, consumed_through from {} where dbt_schema = %s")
                            .format(sql.Identifier(ledger.SCHEMA, ledger.BUILD_MARKS)), (dbt_schema,))
                rows = cur.fetchall()
        self.conn.rollback()
        return dict(rows)

    def record_build_marks(self, dbt_schema: str, marks: Mapping[str, datetime]) -> None:
        if not marks:
            return
        table = sql.Identifier(ledger.SCHEMA, ledger.BUILD_MARKS)
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(ledger.SCHEMA)))
                cur.execute(sql.SQL("create table if not exists {} ({})").format(
                    table, sql.SQL(ledger.column_defs(ledger.BUILD_MARK_COLUMNS, _quote))))
                cur.execute(sql.SQL("delete from {} where dbt_schema = %s and raw_table = any(%s)").format(table),
                            (dbt_schema, sorted(marks)))
                execute_values(cur, sql.SQL("insert into {} (dbt_schema, raw_table, consumed_through, recorded_at) "
                                            "values %s").format(table).as_string(cur),
                               [(dbt_schema, raw_table, at) for raw_table, at in sorted(marks.items())],
                               template="(%s, %s, %s, clock_timestamp() at time zone 'utc')")
            self.conn.commit()
        except BaseException:
            self._rollback()
            raise

    @staticmethod
    def _ledger_rows(cur, keys: list[str], migrated: bool = True) -> dict[str, list[LedgerEntry]]:
        checksum = "content_checksum" if migrated else "null"
        cur.execute(f"select object_key, etag, status, batch_id, reason, {checksum} from unify_loader.load_ledger "
                    "where object_key = any(%s) order by recorded_at, batch_id", (keys,))
        found: dict[str, list[LedgerEntry]] = {}
        for key, etag, status, batch_id, reason, content in cur.fetchall():
            found.setdefault(key, []).append(LedgerEntry(key, etag, status, batch_id, reason, content))
        return found

    # ------------------------------------------------------------------------------ the lock
    def _lock(self, cur, what: str) -> None:
        deadline = time.monotonic() + self.lock_wait_s
        delay = 0.05
        announced = False
        while True:
            cur.execute("select pg_try_advisory_xact_lock(%s)", (LOCK_KEY,))
            if cur.fetchone()[0]:
                if announced:
                    log_event(log, "load_lock_acquired", batch_id=what)
                return
            holder = self._lock_holder(cur)
            if not announced:
                log_event(log, "load_lock_wait", logging.WARNING, batch_id=what, holder=holder,
                          wait_limit_s=self.lock_wait_s)
                announced = True
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"gave up waiting for the load lock after {self.lock_wait_s:.0f} s: another loader holds it "
                    f"({holder}); batch {what} loaded nothing. Run again once it has finished.")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    @staticmethod
    def _lock_holder(cur) -> str:
        cur.execute(
            """
            select a.pid, a.application_name, coalesce(a.client_addr::text, 'local'), a.xact_start
            from pg_locks l join pg_stat_activity a on a.pid = l.pid
            where l.locktype = 'advisory' and l.granted and l.classid = %s and l.objid = %s and l.objsubid = 1
              and l.database = (select oid from pg_database where datname = current_database())
            """,
            (LOCK_KEY >> 32, LOCK_KEY & 0xFFFFFFFF),
        )
        row = cur.fetchone()
        if row is None:
            return "a loader that has just released it"
        pid, app, addr, started = row
        # xact_start is NULL when the holder is between two statements of ending its transaction
        since = f", in a transaction since {started:%Y-%m-%d %H:%M:%S %Z}" if started is not None else ""
        return f"'{app or 'unknown client'}' (PostgreSQL backend {pid}, from {addr}{since})"

    @staticmethod
    def _stamp(cur, batch_id: str) -> datetime:
        """The batch's _loaded_at, read under the load lock: the clock, or 1 µs after the newest committed
        batch's stamp when the clock is not past it (stepped back, or equal), so stamps rise strictly
        in commit order whatever the clock does (module docstring)."""
        cur.execute(sql.SQL("select clock_timestamp() at time zone 'utc', (select max(committed_at) from {})")
                    .format(sql.Identifier(ledger.SCHEMA, ledger.BATCHES)))
        clock, newest = cur.fetchone()
        if newest is None or clock > newest:
            return clock
        behind = newest - clock
        log_event(log, "clock_behind_last_batch", logging.WARNING if behind > CLOCK_BEHIND_WARNING else logging.DEBUG,
                  batch_id=batch_id, clock=clock.isoformat(sep=" "), last_stamp=newest.isoformat(sep=" "),
                  behind_s=round(behind.total_seconds(), 6))
        return newest + STAMP_STEP

    # ------------------------------------------------------------------------------ loading
    def load_batch(self, batch: Batch, checkpoint: Checkpoint = _noop, on_file: OnFile = _noop) -> list[FileOutcome]:
        outcomes: list[FileOutcome] = []
        raw_table = batch.table.qualified_raw_name if batch.table else None
        try:
            with self.conn.cursor() as cur:
                self._lock(cur, batch.batch_id)
                loaded_at = self._stamp(cur, batch.batch_id)
                cur.execute(f"create temp sequence if not exists {ROW_SEQUENCE} cache 1000; "
                            "select set_config(%s, %s, true), set_config(%s, %s, true)",
                            (CONTEXT_PREFIX + "batch_id", batch.batch_id,
                             CONTEXT_PREFIX + "loaded_at", loaded_at.isoformat(sep=" ")))
                decided = self._ledger_rows(cur, [f.key for f in batch.files] + [q.key for q in batch.quarantines])
                checkpoint("before_copy")
                columns = self._columns_now(cur, batch.table) if batch.table else {}
                for f in batch.files:
                    others = [e for e in decided.get(f.key, []) if e.batch_id not in f.known_batches]
                    if others and not f.checksum and f.resolve_checksum is not None:
                        f = _with_checksum(f, f.resolve_checksum())  # its key was decided meanwhile: which bytes?
                    meanwhile = _decided_meanwhile(others, f.etag, f.checksum)
                    if meanwhile is not None:
                        outcome = FileOutcome(f.key, f.etag, f.size, raw_table, SKIPPED, meanwhile.batch_id,
                                              checksum=f.checksum)
                    else:
                        outcome = self._load_file(cur, batch, f, columns, checkpoint)
                    outcomes.append(outcome)
                    on_file(outcome)
                for q in batch.quarantines:
                    others = [e for e in decided.get(q.key, []) if e.batch_id not in q.known_batches]
                    meanwhile = _decided_meanwhile(others, q.etag, q.checksum)
                    if meanwhile is not None:
                        outcome = FileOutcome(q.key, q.etag, q.size, raw_table, SKIPPED, meanwhile.batch_id)
                    else:
                        outcome = FileOutcome(q.key, q.etag, q.size, raw_table, q.status, batch.batch_id,
                                              reason=q.reason, line=q.line, checksum=q.checksum)
                    outcomes.append(outcome)
                    on_file(outcome)
                if self._release:
                    cur.execute(self._release)
                    self._release = ""
                self._record(cur, batch, outcomes, loaded_at)
                checkpoint("after_copy")
            self.conn.commit()
        except psycopg2.Error as err:
            self._release = ""
            self._rollback()
            # PostgreSQL's primary message and code only: its CONTEXT line can quote the record being copied
            raise LoadFailure(f"batch {batch.batch_id} ({raw_table or 'quarantines'}) failed and was rolled back: "
                              f"{clean_text(err.diag.message_primary or type(err).__name__)} "
                              f"(SQLSTATE {err.pgcode or '?'})") from None
        except BaseException:
            self._release = ""
            self._rollback()
            raise
        checkpoint("after_commit")
        return outcomes

    def _rollback(self) -> None:
        try:
            self.conn.rollback()
        except psycopg2.Error:
            pass  # the connection is gone: the server rolled the transaction back itself

    def _load_file(self, cur, batch: Batch, f: FileLoad, columns: dict[str, str],
                   checkpoint: Checkpoint) -> FileOutcome:
        """One file, one COPY, under a savepoint. A value its raw type refuses, in a column whose type may
        widen, has the file profiled and the columns widened, then one more COPY; a landed CSV file whose
        timestamps name a zone other than UTC (or are not ISO 8601) is read by pyarrow instead, one
        more COPY; anything else the warehouse refuses quarantines the file (rolled back to the savepoint)."""
        table = batch.table
        assert table is not None
        raw_table = table.qualified_raw_name
        ident = sql.Identifier(table.raw_schema, table.raw_table)
        widenings: list[tuple[str, str, str]] = []
        widened = False
        for _attempt in (1, 2, 3):  # a widening and the switch to pyarrow each retry once
            # the savepoint and the file's load context go in the same round trip as the COPY when nothing
            # has to be altered in between
            prefix = cur.mogrify(f"{self._release}savepoint unify_file; select set_config(%s, %s, true), "
                                 f"setval('pg_temp.{ROW_SEQUENCE}', 1, false); ",
                                 (CONTEXT_PREFIX + "source_key", f.key)).decode()
            self._release = ""
            added: list[str] = []
            stream: _CopyStream | _InlineStream | None = None
            try:
                if not f.columns or widenings or any(name not in columns for name, _ in f.added_columns):
                    cur.execute(prefix)
                    prefix = ""
                for name, type_ in f.added_columns:
                    if name not in columns:
                        cur.execute(sql.SQL("alter table {} add column if not exists {} " + type_).format(
                            ident, sql.Identifier(name)))
                        added.append(name)
                for name, _old, new in widenings:
                    self._widen(cur, table, name, new)
                rows = 0
                checksum = f.checksum
                if f.columns:
                    statement, stream = self._copy_statement(ident, f, [c.raw_name for c in f.columns],
                                                             literal_nulls=f.literal_nulls,
                                                             hashed=not f.checksum, checkpoint=checkpoint)
                    try:
                        cur.copy_expert(prefix + statement.string, stream, size=1 << 20)
                    finally:
                        stream.close()
                    rows = cur.rowcount
                    if stream.landed is not None:
                        if stream.landed.end_marker:
                            _check_no_record_dropped(f, rows)
                        checksum = checksum or stream.landed.checksum()
                        if stream.landed.bytes != f.size:
                            return self._deferred(cur, batch, f, "changed while it was loaded (still being written?)")
                if not checksum and f.resolve_checksum is not None:  # read by pyarrow (JSON, Parquet), or empty
                    checksum = f.resolve_checksum()
                if f.unchanged is not None and not f.unchanged():
                    return self._deferred(cur, batch, f, "changed while it was loaded (still being written?)")
                self._release = "release savepoint unify_file; "  # sent with the next statement
                break
            except psycopg2.Error as err:
                if stream is not None and stream.error is not None:
                    self._undo(cur, "unify_file")
                    if isinstance(stream.error, _ReadWithPyarrow):
                        f = dataclasses.replace(f, open_raw=None)  # pyarrow reads it: offsets_to_utc
                        log_event(log, "file_timestamps_via_pyarrow", batch_id=batch.batch_id, key=f.key,
                                  table=raw_table)
                        continue
                    if isinstance(stream.error, LandingNotFound):
                        return self._deferred(cur, batch, f, "disappeared before it could be loaded", undo=False)
                    if isinstance(stream.error, QuarantineError):
                        return self._quarantined(batch, f, stream.error.reason, stream.error.line)
                    raise stream.error from None
                if not (err.pgcode or "").startswith(_DATA_ERROR_CLASSES):
                    raise
                self._undo(cur, "unify_file")
                arrow = stream.arrow if stream is not None else None
                line = _pg_line(err)
                if arrow is not None and line is not None:  # a line of the generated stream: which record?
                    line = arrow.record_at(line)
                column = _pg_column(err, columns)
                if not widened and err.pgcode in _WIDENING_CODES and column in f.widenable:
                    widened = True
                    widenings = self._needed_widenings(cur, table, f, columns) or []
                    if widenings:
                        continue
                reason = rejection_reason(err.pgcode or "", column, columns.get(column or ""),
                                          err.diag.message_primary or "", err.diag.constraint_name)
                reason, line = prefer_diagnosis(f, reason, line, structural=err.pgcode == _BAD_COPY_FILE_FORMAT)
                return self._quarantined(batch, f, reason, line)
            except _WidenBlocked as blocked:
                self._undo(cur, "unify_file")
                return self._quarantined(batch, f, blocked.reason, None)
            except QuarantineError as err:
                self._undo(cur, "unify_file")
                return self._quarantined(batch, f, err.reason, err.line)
        for name in added:
            columns[name] = dict(f.added_columns)[name]
            log_event(log, "schema_drift_column_added", batch_id=batch.batch_id, table=raw_table, column=name,
                      type=columns[name], key=f.key)
        for name, old, new in widenings:
            columns[name] = new
            log_event(log, "schema_drift_column_widened", batch_id=batch.batch_id, table=raw_table, column=name,
                      type=new, previous_type=old, key=f.key)
        log_event(log, "file_loaded", logging.DEBUG, batch_id=batch.batch_id, key=f.key, table=raw_table, rows=rows)
        return FileOutcome(f.key, f.etag or checksum, f.size, raw_table, LOADED, batch.batch_id, rows=rows,
                           added_columns=tuple(added), checksum=checksum,
                           widened=tuple(evolution.describe(*w) for w in widenings))

    @staticmethod
    def _copy_statement(ident, f: FileLoad, names: Sequence[str], hashed: bool, checkpoint: Checkpoint = _noop,
                        zones: bool = True, literal_nulls: tuple[str, ...] = ()
                        ) -> tuple[sql.SQL, "_CopyStream | _InlineStream"]:
        """The COPY of a file into `ident` (its columns `names`) and the stream that feeds it: a landed CSV
        as it is (header skipped by COPY, `_source_row` from the row sequence), any other file as pyarrow's
        CSV with `_source_row` last. With `zones`, a landed file whose format allows zone offsets stops with
        _ReadWithPyarrow at the first timestamp that names a zone other than UTC or is not ISO 8601.
        `literal_nulls`: columns where the NULL marker loads as its text (FORCE_NOT_NULL; literal_null_columns)."""
        target = tuple(ident.strings)
        if _as_landed(f):
            fmt = f.file_format
            statement = _copy_sql(target, tuple(names), bool(fmt.header_rows), fmt.null_marker, fmt.empty_is_null,
                                  literal_nulls)
            landed = _LandedCsv(f.key, f.open_raw, hashed, zones and fmt.zone_offsets)  # type: ignore[arg-type]
            # a small file is read in the COPY's own thread: a producer thread would cost more than it saves
            kind = _CopyStream if f.size > _LandedCsv.CHUNK_BYTES else _InlineStream
            stream = kind(landed, lambda: checkpoint("during_copy"), landed=landed)
        else:
            names = list(names) if "_source_row" in names else [*names, "_source_row"]
            statement = _copy_sql(target, tuple(names), None, None)
            arrow = _ArrowCsv(f.record_batches)
            stream = _CopyStream(arrow, lambda: checkpoint("during_copy"), arrow=arrow)
        return statement, stream

    @staticmethod
    def _undo(cur, savepoint: str) -> None:
        cur.execute(f"rollback to savepoint {savepoint}; release savepoint {savepoint}")

    def _deferred(self, cur, batch: Batch, f: FileLoad, why: str, undo: bool = True) -> FileOutcome:
        """A file that changed or vanished while it was loaded: rolled back, no ledger row, the next run sees
        it again."""
        if undo:
            self._undo(cur, "unify_file")
        raw_table = batch.table.qualified_raw_name if batch.table else None
        log_event(log, "file_deferred", logging.WARNING, batch_id=batch.batch_id, key=f.key, table=raw_table,
                  reason=why)
        return FileOutcome(f.key, f.etag, f.size, raw_table, DEFERRED, batch.batch_id, reason=why)

    @staticmethod
    def _quarantined(batch: Batch, f: FileLoad, reason: str, line: int | None) -> FileOutcome:
        raw_table = batch.table.qualified_raw_name if batch.table else None
        if not f.checksum and f.resolve_checksum is not None:  # rejected before its bytes were all read
            try:
                f = _with_checksum(f, f.resolve_checksum())
            except LandingNotFound:
                pass
        log_event(log, "file_quarantined", logging.WARNING, batch_id=batch.batch_id, key=f.key, table=raw_table,
                  reason=reason, line=line)
        return FileOutcome(f.key, f.etag or f.checksum, f.size, raw_table, QUARANTINED, batch.batch_id,
                           reason=reason, line=line, checksum=f.checksum)

    def _record(self, cur, batch: Batch, outcomes: list[FileOutcome], recorded_at) -> None:
        rows = [
            (o.key, o.etag or o.checksum, o.size, o.status, o.raw_table, o.rows if o.status == LOADED else None,
             o.batch_id, ledger.limit_text(o.reason), o.line, ",".join(o.added_columns) or None, recorded_at,
             o.checksum or None, ledger.limit_text(ledger.WIDENED_SEPARATOR.join(o.widened)) or None)
            for o in outcomes if o.status in (QUARANTINED, *DONE)
        ]
        if not rows:
            return
        execute_values(cur, sql.SQL("insert into {}.{} ({}) values %s").format(
            sql.Identifier(ledger.SCHEMA), sql.Identifier(ledger.LEDGER),
            sql.SQL(", ").join(map(sql.Identifier, ledger.LEDGER_INSERT_COLUMNS))).as_string(cur), rows,
            page_size=len(rows))  # one multi-row INSERT per batch
        # the batch's summary, counted from the rows just written (no read of the growing ledger)
        loaded = [o for o in outcomes if o.status == LOADED]
        cur.execute(
            sql.SQL("insert into {} (batch_id, raw_table, files_loaded, files_quarantined, rows_loaded, "
                    "committed_at, loader) values (%s, %s, %s, %s, %s, %s, %s)").format(
                sql.Identifier(ledger.SCHEMA, ledger.BATCHES)),
            (batch.batch_id, batch.table.qualified_raw_name if batch.table else None, len(loaded),
             sum(o.status == QUARANTINED for o in outcomes), sum(o.rows for o in loaded), recorded_at,
             self.loader_name))


class _WidenBlocked(Exception):
    """A column cannot be widened in place (a view that reads it does not take the wider type)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = clean_text(reason)


@dataclass(frozen=True)
class _View:
    """A view as PostgreSQL holds it, to drop and recreate it around an ALTER COLUMN TYPE."""

    schema: str
    name: str
    kind: str  # v | m
    definition: str
    options: list[str] | None
    owner: str
    comment: str | None
    column_comments: list[list[str]]
    grants: list[list[str]]

    def create(self, cur) -> None:
        ident = sql.Identifier(self.schema, self.name)
        with_options = sql.SQL(" with ({})").format(sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(v))
            for k, v in (o.split("=", 1) for o in self.options))) if self.options else sql.SQL("")
        cur.execute(sql.SQL("create view {}{} as ").format(ident, with_options).as_string(cur)
                    + self.definition.rstrip().rstrip(";"))
        cur.execute(sql.SQL("alter view {} owner to {}").format(ident, sql.Identifier(self.owner)))
        for grantee, privilege, grantable in self.grants:
            if privilege not in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"):
                continue
            cur.execute(sql.SQL("grant " + privilege.lower() + " on {} to " + grantee
                                + (" with grant option" if grantable == "true" else "")).format(ident))
        if self.comment is not None:
            cur.execute(sql.SQL("comment on view {} is {}").format(ident, sql.Literal(self.comment)))
        for column, comment in self.column_comments:
            cur.execute(sql.SQL("comment on column {}.{} is {}").format(ident, sql.Identifier(column),
                                                                        sql.Literal(comment)))


@functools.lru_cache(maxsize=256)
def _copy_sql(target: tuple[str, ...], names: tuple[str, ...], header: bool | None, null: str | None,
              force_null: bool = False, force_not_null: tuple[str, ...] = ()) -> sql.SQL:
    """The COPY statement, composed once per table, column list and CSV options (thousands of files share a
    few). `header` None: pyarrow's CSV (no header, default NULL); else a landed file's options. `force_null`:
    a quoted value equal to the NULL string is NULL too (FORCE_NULL on every column of the file: the TMS,
    where an empty field is NULL, quoted or not). `force_not_null`: columns where the NULL string is that
    text (DMS's NOT NULL text columns: literal_null_columns)."""
    options = "format csv"
    if header is not None:
        options += f", header {'true' if header else 'false'}"
        if null is not None:
            options += f", null {_literal(null)}"
            if force_null and names:
                options += f", force_null ({', '.join(map(_quote, names))})"
            if force_not_null:
                options += f", force_not_null ({', '.join(map(_quote, force_not_null))})"
    return sql.SQL(f"copy {'.'.join(map(_quote, target))} ({', '.join(map(_quote, names))}) from stdin "
                   f"with ({options})")


def _has_op(table: SourceTable) -> bool:
    return any(c.raw_name == "op" for c in table.delivery_columns)


def _contract_widens(existing: str, contract: str) -> bool:
    """The contract's type is wider than the raw column's (the contract changed), so set-up widens it."""
    return not evolution.same_type(existing, contract) and evolution.holds(contract, existing)


def _decided_meanwhile(entries: Sequence[LedgerEntry], etag: str, checksum: str) -> LedgerEntry | None:
    """A ledger row another loader wrote about these bytes since this run read the ledger (then the run
    skips them: loaded, a duplicate, or quarantined, the decision is made, and never twice)."""
    return ledger.decided(entries, etag, checksum, statuses=(*DONE, QUARANTINED))


def _check_no_record_dropped(f: FileLoad, rows: int) -> None:
    """Quarantines (QuarantineError) a landed CSV file whose COPY loaded fewer records than it holds: a line
    of only `\\.` outside quotes, PostgreSQL's end of data, dropped the rest of it. Redshift's COPY reads
    that line as a record of one field, which the file's own diagnosis names; a `\\.` line inside a quoted
    value is data and loads."""
    assert f.open_raw is not None and f.file_format is not None
    records = csv_record_count(f.open_raw)  # None: not well formed after all (the diagnosis says where)
    if records is not None and records - (f.file_format.header_rows or 0) == rows:
        return
    diagnosis = f.diagnose() if f.diagnose is not None else None
    reason, line = diagnosis or ("a line of only \\. (PostgreSQL's end of data) dropped the records after it "
                                 "(corrupt file)", None)
    raise QuarantineError(f.key, reason, line)


def _with_checksum(f: FileLoad, checksum: str) -> FileLoad:
    return dataclasses.replace(f, checksum=checksum)


def _as_landed(f: FileLoad) -> bool:
    """A landed CSV file that COPY parses as it is (DMS, TMS), rather than records pyarrow re-encodes."""
    return f.open_raw is not None and f.file_format.kind == "csv" and f.file_format.header_rows <= 1


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_CONTEXT = re.compile(r"line (\d+)(?:, column ([A-Za-z_][A-Za-z0-9_$]*))?")


def _pg_line(err: psycopg2.Error) -> int | None:
    match = _CONTEXT.search(err.diag.context or "")
    return int(match.group(1)) if match else None


def _pg_column(err: psycopg2.Error, columns: Mapping[str, str]) -> str | None:
    """The raw column an error names (its diagnostics, or COPY's context), only when it is one of the
    table's: the context goes on with the record's text, which never reaches a reason."""
    match = _CONTEXT.search(err.diag.context or "")
    column = err.diag.column_name or (match.group(2) if match else None)
    return column if column in columns else None


class _CopyStream:
    """A file-like object for `copy_expert`, filled by a producer thread through a small queue, so that
    reading (and checking) the next chunk and PostgreSQL's COPY of the previous one run at the same time.

    An exception in the producer (a record too large, a failed read, a vanished file) is re-raised from
    read(), which makes psycopg2 abort the COPY; it is kept in `error`, and so is one raised by
    `on_first_chunk` (the `during_copy` crash checkpoint).
    """

    def __init__(self, chunks: Callable[[], Iterator[bytes]], on_first_chunk: Callable[[], None],
                 landed: "_LandedCsv | None" = None, arrow: "_ArrowCsv | None" = None):
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._stop = threading.Event()
        self._first = True
        self._on_first_chunk = on_first_chunk
        self.landed = landed
        self.arrow = arrow
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._produce, args=(chunks,), name="copy-producer", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, chunks: Callable[[], Iterator[bytes]]) -> None:
        try:
            for chunk in chunks():
                if chunk and not self._put(chunk):
                    return
            self._put(None)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, which re-raises it
            self._put(err)

    def read(self, size: int = -1) -> bytes:
        item = self._queue.get()
        if item is None:
            self._queue.put(None)  # later reads see the end too
            return b""
        if isinstance(item, BaseException):
            self.error = item
            raise item
        if self._first:
            self._first = False
            try:
                self._on_first_chunk()
            except BaseException as err:  # an injected crash: keep it, so the caller re-raises it as is
                self.error = err
                raise
        return item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)


class _InlineStream:
    """The same file-like object as _CopyStream, without the thread: chunks are made when COPY asks."""

    def __init__(self, chunks: Callable[[], Iterator[bytes]], on_first_chunk: Callable[[], None],
                 landed: "_LandedCsv | None" = None, arrow: "_ArrowCsv | None" = None):
        self._chunks = chunks
        self._iter: Iterator[bytes] | None = None
        self._first = True
        self._on_first_chunk = on_first_chunk
        self.landed = landed
        self.arrow = arrow
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        try:
            if self._iter is None:
                self._iter = iter(self._chunks())
            chunk = next(self._iter, b"")
            if chunk and self._first:
                self._first = False
                self._on_first_chunk()
        except BaseException as err:  # noqa: BLE001 - kept, so the caller re-raises it as is
            self.error = err
            raise
        return chunk

    def close(self) -> None:
        close = getattr(self._iter, "close", None)
        if close is not None:
            close()


class _LandedCsv:
    """A landed CSV file's bytes as they are, in 1 MB chunks, checksummed on the way (CRC-64/NVME, C) and
    checked for a line longer than MAX_RECORD_BYTES ("record too large": Redshift would refuse it). Per
    chunk, not per record: one find, one rfind. Blank lines (a writer's extra line break after the last
    record, or one between records) are not passed on: COPY would read each as a record of one empty field
    and refuse the file, and Redshift's COPY skips them (IGNOREBLANKLINES), as pyarrow's reader does. A line
    break inside a quoted value is data: a blank line is looked for only where the quotes before it are
    even in number (one count of the quote character per chunk; the search for a blank line is a memmem
    that rarely finds one). The checksum covers every byte as landed.

    A stray quote (loaders/sources/base.py StrayQuotes: `"abc"x`, a value's quote not doubled) quarantines
    the file: PostgreSQL's COPY would read on through it, joining or shifting values.

    A line starting with `\\.` is noted (`end_marker`): PostgreSQL's COPY FROM STDIN takes a line holding
    only `\\.` outside quotes for the end of the data and silently drops every record after it, which
    Redshift's COPY from S3 reads as a malformed record. The loader then counts the file's records itself
    (`_check_no_record_dropped`).

    With `zones` (a format whose timestamps may carry a zone offset), each chunk is searched for a time
    followed by a zone other than UTC, and for a d/m/y date (NOT_UTC_OR_NOT_ISO): PostgreSQL would load the
    first's wall time and read the second by its DateStyle, so the stream stops with _ReadWithPyarrow and
    the loader reads the file with pyarrow instead. A time followed by `+00:00`, `Z` or nothing is already
    UTC and streams as it is. The chunk is first searched by MAYBE_NOT_UTC_OR_NOT_ISO, one RE2 search (C++,
    a DFA: ~10 times faster than Python's three searches, which try each colon, `T` and dash of every
    timestamp) that finds every match of NOT_UTC_OR_NOT_ISO and a few more; only a chunk where it finds
    something is searched by NOT_UTC_OR_NOT_ISO (`names_a_zone`). A comma before a fraction is a decimal
    sign only inside a quoted value: outside one it ends the field (`...52T1935,2026-10-30...`, a tracking
    number followed by a date, is not a time with an offset)."""

    CHUNK_BYTES = 1 << 20
    END_MARKER = b"\n\\."  # a line break, then `\.`
    # What follows a time when it names a zone other than UTC: an offset that is not zero (+01..+24, or +00
    # with minutes), or a zone name other than Z, UTC or GMT (CET, Europe/Zurich)
    _FRACTION = rb"(?:[.,]\d+)? ?"  # then an optional space
    _OFFSET = rb"[+-](?:0[1-9]|1\d|2[0-4]|00:?(?:0[1-9]|[1-5]\d))"
    _NAME = rb"(?!(?:Z|UTC|GMT)(?![A-Za-z]))[A-Za-z]"
    # Timestamps the raw columns would load wrong, each search starting at a literal byte so that it skips
    # from one to the next (~100 MB/s from the colon, 42 from a digit): a time's last `:MM` or `:SS` followed
    # by a zone (the extended format); the basic format's `Thhmm[ss]` after a date, followed by an offset (a
    # name there would match tracking numbers such as `1Z438C24T7210AA8CE`); a date of one or two digits, one
    # or two, then two or four, separated by `/`, `-` or `.` (d/m/y, m-d-y, d.m.y: not ISO 8601, and which
    # comes first depends on the reader; ~75 MB/s). A text value that only looks like one of these
    # (`10:15 am` in a note, `12-34-5678`) costs a read through pyarrow, never a wrong value.
    NOT_UTC_OR_NOT_ISO = (re.compile(rb":\d\d" + _FRACTION + rb"(?:" + _OFFSET + rb"|" + _NAME + rb")"),
                          re.compile(rb"T(?<=\d\dT)\d\d\d\d(?:\d\d)?" + _FRACTION + _OFFSET),
                          re.compile(rb"[-/.](?:(?<=[^-/.\d]\d[-/.])|(?<=[^-/.\d]\d\d[-/.]))"
                                     rb"\d\d?[-/.]\d\d(?:\d\d)?(?!\d)"))
    # The same searches for RE2 (pyarrow's regular expressions, bytes read as Latin-1), which has no look-around:
    # each look-behind becomes the bytes it looked at, and a zone name other than Z, UTC or GMT is spelt out
    # letter by letter. It needs one byte after a name's first letters and after a date where Python's look-ahead
    # also takes the end of the text: a chunk's last bytes are searched again with the next chunk (`across`),
    # and a file that may carry offsets ends with a line break.
    _NAME_RE2 = (rb"(?:[A-FH-TV-Ya-z]|Z[A-Za-z]|U(?:[^T]|T[^C]|TC[A-Za-z])|G(?:[^M]|M[^T]|MT[A-Za-z]))")
    MAYBE_NOT_UTC_OR_NOT_ISO = (rb":\d\d" + _FRACTION + rb"(?:" + _OFFSET + rb"|" + _NAME_RE2 + rb")"
                                + rb"|\d\dT\d\d\d\d(?:\d\d)?" + _FRACTION + _OFFSET
                                + rb"|[^-/.\d]\d\d?[-/.]\d\d?[-/.]\d\d(?:\d\d)?[^\d]").decode("ascii")
    BLANK_LINE = re.compile(rb"\n\r?\n")  # a line break, then a blank line (LF or CRLF)
    OVERLAP = 32  # bytes of the previous chunk searched again with the next one: a time and offset is shorter

    def __init__(self, key: str, open_raw: Callable[[], BinaryIO], hashed: bool, zones: bool = False):
        self._key = key
        self._open_raw = open_raw
        self._digest = ContentHash() if hashed else None
        self._zones = zones
        self._quotes = StrayQuotes()
        self._quote_count = 0  # quote characters before the next piece passed on: odd inside a quoted value
        self.bytes = 0
        self.end_marker = False  # some line starts with `\.`

    def checksum(self) -> str:
        return self._digest.text() if self._digest is not None else ""

    def __call__(self) -> Iterator[bytes]:
        since_break = 0  # bytes of the line still open at the end of the last chunk
        held = b""  # the line breaks the stream ends with so far: passed on once more data follows them
        last = b"\n"  # the bytes before the chunk, for a marker across chunks (the file's start is a line's)
        tail = b""  # the end of the previous chunk, for a time and offset across chunks
        with self._open_raw() as handle:
            for chunk in iter(lambda: handle.read(self.CHUNK_BYTES), b""):
                if self._zones:  # quotes counted so far: every byte before this chunk's
                    if ((self.maybe_names_a_zone(chunk) and self.names_a_zone(chunk, self._quote_count))
                            or self.names_a_zone(tail + chunk[:self.OVERLAP], self._quote_count - tail.count(b'"'))):
                        raise _ReadWithPyarrow(self._key)
                    tail = chunk[-self.OVERLAP:]
                # a backslash is rare in the sources' text: one memchr per chunk, the marker looked for only then
                if not self.end_marker and (b"\\" in chunk or b"\\" in last):
                    self.end_marker = self.END_MARKER in last + chunk[:2] or self.END_MARKER in chunk
                last = chunk[-2:] if len(chunk) > 1 else (last + chunk)[-2:]
                first = chunk.find(b"\n")
                if (since_break + len(chunk) if first < 0 else since_break + first) > MAX_RECORD_BYTES:
                    raise QuarantineError(self._key, f"record too large: over {MAX_RECORD_BYTES >> 20} MB",
                                          line_at(self._open_raw, self.bytes))
                since_break = since_break + len(chunk) if first < 0 else len(chunk) - chunk.rfind(b"\n") - 1
                stray = self._quotes.find(chunk)
                if stray is not None:
                    raise QuarantineError(self._key, STRAY_QUOTE_REASON, line_at(self._open_raw, stray))
                self.bytes += len(chunk)
                if self._digest is not None:
                    self._digest.update(chunk)
                body = chunk.rstrip(b"\r\n")
                if body:
                    yield self._without_blank_lines(held + body)
                    held = chunk[len(body):]
                else:
                    held += chunk
        if held:  # the last record's own line break (CRLF or LF), without the blank lines after it
            yield held[:2] if held.startswith(b"\r\n") else held[:1]

    @classmethod
    def maybe_names_a_zone(cls, data: bytes) -> bool:
        """Whether MAYBE_NOT_UTC_OR_NOT_ISO finds something in `data` (then `names_a_zone` may)."""
        return pc.find_substring_regex(pa.scalar(data, pa.binary()), cls.MAYBE_NOT_UTC_OR_NOT_ISO).as_py() >= 0

    @classmethod
    def names_a_zone(cls, data: bytes, quotes_before: int) -> bool:
        """Whether `data` (after `quotes_before` quote characters of its file) holds a timestamp that names a
        zone other than UTC or is not ISO 8601 (NOT_UTC_OR_NOT_ISO), a comma taken for a fraction's only
        inside a quoted value."""
        for search in cls.NOT_UTC_OR_NOT_ISO:
            at = 0
            while (match := search.search(data, at)) is not None:
                comma = data.find(b",", match.start(), match.end())
                if comma < 0 or (quotes_before + data.count(b'"', 0, comma)) % 2:
                    return True
                at = match.start() + 1  # the comma ends a field: no time there, but maybe one right after
        return False

    def _without_blank_lines(self, data: bytes) -> bytes:
        """`data` (the stream's next piece: it never starts a line after a line break of the piece before,
        so a blank line is a line break right after another one, in it) without the blank lines outside
        quoted values."""
        if b"\n\n" not in data and b"\n\r\n" not in data:
            self._quote_count += data.count(b'"')
            return data
        kept: list[bytes] = []
        start = counted = 0  # data[start:] not yet kept; quotes counted in data[:counted]
        at = 0
        while (blank := self.BLANK_LINE.search(data, at)) is not None:
            self._quote_count += data.count(b'"', counted, blank.start())
            counted = blank.start()
            if self._quote_count % 2 == 0:  # outside a quoted value
                kept.append(data[start:blank.start() + 1])
                start = blank.end()
            at = blank.end() - 1  # the blank line's own line break may end another blank line
        self._quote_count += data.count(b'"', counted)
        kept.append(data[start:])
        return b"".join(kept)


class _ReadWithPyarrow(Exception):
    """A landed CSV file holds a timestamp that names a zone other than UTC, or one that is not ISO 8601: load
    it through pyarrow, which converts the first and quarantines the second (offsets_to_utc)."""


class _ArrowCsv:
    """Record batches written as CSV by pyarrow (JSON Lines and Parquet files), `_source_row` last.

    Nulls are written as empty unquoted fields and strings always quoted (pyarrow's "needed" style), so
    COPY's CSV defaults tell NULL from the empty string.
    """

    _OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed")

    def __init__(self, batches: Callable[[], Iterator[pa.RecordBatch]]):
        self._batches = batches
        # (first stream line, first record, records, line breaks) of each chunk, to name a record by line
        self._chunks: list[tuple[int, int, int, int]] = []

    def __call__(self) -> Iterator[bytes]:
        line = 1
        for batch in self._batches():
            sink = pa.BufferOutputStream()
            pacsv.write_csv(batch, sink, self._OPTIONS)
            data = sink.getvalue().to_pybytes()
            breaks = data.count(b"\n")
            self._chunks.append((line, batch.column(batch.num_columns - 1)[0].as_py(), batch.num_rows, breaks))
            line += breaks
            yield data

    def record_at(self, line: int) -> int | None:
        """The record (`_source_row`) on a stream line, when no value before it held a line break."""
        for first_line, first_record, records, breaks in self._chunks:
            if breaks != records:
                return None  # a quoted line break: lines and records part ways
            if first_line <= line < first_line + breaks:
                return first_record + (line - first_line)
        return None
