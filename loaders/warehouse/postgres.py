"""The local target: PostgreSQL, loaded with `COPY ... FROM STDIN` streamed from the landed files.

One batch = one transaction:

    BEGIN
      pg_try_advisory_xact_lock(load lock)          -- waits, logging who holds it; gives up after lock_wait_s
      re-read the ledger for the batch's objects     -- skip what another loader committed meanwhile
      per file: SAVEPOINT; [ALTER TABLE ADD COLUMN for drift]; COPY raw (file columns, _source_row)
                FROM STDIN (CSV); RELEASE            -- a rejected file rolls back to its savepoint
      INSERT ledger rows (loaded / quarantined), INSERT the batch row
    COMMIT

What COPY reads (prepared in a second thread, so that it and PostgreSQL's COPY use two cores at once):
- CSV files (DMS, TMS) go to COPY as landed (`FORMAT csv, HEADER, NULL '<marker>'`, the column list
  from the header), each record prefixed with its number: PostgreSQL's own RFC 4180 parser reads them,
  as Redshift's COPY reads the same files, and rejects a malformed record or a value its raw type
  refuses with the file's own line. Re-encoding them with pyarrow first, and numbering rows with a
  sequence default, were both measured slower (README "Loader benchmark"); pyarrow's CSV reader still
  checks them in a dry run.
- JSON Lines and Parquet (AppFlow, DMS Parquet) are read by pyarrow and written as CSV, with their
  `_source_row`.

`_source_key`, `_batch_id` and `_loaded_at` are not in the data: their column defaults read the load
context the loader sets with `set_config` before each COPY, through IMMUTABLE functions that PostgreSQL
evaluates once when it plans the COPY (constant folding of defaults), not once per row. Outside a load
the functions raise, so nothing but the loader can write raw rows without naming their origin.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import logging
import os
import queue
import re
import socket
import threading
import time
from typing import BinaryIO, Callable, Iterator, Sequence

import psycopg2
import psycopg2.errors
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg2 import sql
from psycopg2.extras import execute_values

from loaders import ledger
from loaders.config import Settings
from loaders.errors import LoadFailure, LockTimeout, QuarantineError, clean_text
from loaders.records import (LOADED, QUARANTINED, SKIPPED, Batch, FileLoad, FileOutcome, LedgerEntry)
from loaders.logs import log_event
from loaders.source_tables import SourceTable
from loaders.warehouse.base import (Checkpoint, OnFile, Warehouse, _noop, prefer_diagnosis, raw_columns,
                                    raw_indexes)

log = logging.getLogger("loaders.warehouse.postgres")

LOCK_KEY = 0x756E6966796C6F61  # "unifyloa": the advisory lock every loader takes per batch
FUNCTIONS_VERSION = "unify-loader-functions v3"  # bump when _FUNCTIONS change: setup re-creates them
CONTEXT_PREFIX = "unify_load."
_META_DEFAULTS = {
    "_source_key": "unify_loader.load_context('source_key'::text)",
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
    '{FUNCTIONS_VERSION}: the batch transaction''s start time (UTC), the raw rows'' _loaded_at; see load_context.';
"""
# SQLSTATE classes that mean "this file's data is unacceptable" (quarantine), not "the run cannot go on".
_DATA_ERROR_CLASSES = ("22", "23")
_BAD_COPY_FILE_FORMAT = "22P04"  # missing or extra columns, an unterminated quoted field


class PostgresWarehouse(Warehouse):
    target = "postgres"

    def __init__(self, settings: Settings, *, lock_wait_s: float = 600.0, connect_attempts: int = 5,
                 statement_timeout_s: float | None = None):
        self.settings = settings
        self.lock_wait_s = lock_wait_s
        self.loader_name = f"{socket.gethostname()} pid {os.getpid()} postgres"
        self.conn = self._connect(connect_attempts, statement_timeout_s)

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
                    cur.execute(sql.SQL("create table if not exists {}.{} ({})").format(
                        sql.Identifier(ledger.SCHEMA), sql.Identifier(name),
                        sql.SQL(ledger.column_defs(columns, _quote))))
                cur.execute(sql.SQL("create index if not exists load_ledger_object_key on {}.{} (object_key)").format(
                    sql.Identifier(ledger.SCHEMA), sql.Identifier(ledger.LEDGER)))
                schemas = {t.raw_schema for t in tables}
                existing = self._existing_columns(cur, schemas)
                indexes = self._existing_indexes(cur, schemas)
                for table in tables:
                    self._ensure_table(cur, table, existing.get((table.raw_schema, table.raw_table)))
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
            existing = self._existing_columns(cur, {t.raw_schema for t in tables})
            indexes = self._existing_indexes(cur, {t.raw_schema for t in tables})
        self.conn.rollback()
        for table in tables:
            columns = existing.get((table.raw_schema, table.raw_table))
            if columns is None:
                return True
            if any((table.raw_schema, index.name) not in indexes for index in raw_indexes(table)):
                return True
            for name, _type, _nn in raw_columns(table):
                if name not in columns or (name in _META_DEFAULTS and columns[name][1] is None):
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

    def _ensure_table(self, cur, table: SourceTable, columns: dict[str, tuple[str, str | None]] | None) -> None:
        ident = sql.Identifier(table.raw_schema, table.raw_table)
        if columns is None:
            cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(table.raw_schema)))
            defs = []
            for name, type_, not_null in raw_columns(table):
                default = f" default {_META_DEFAULTS[name]}" if name in _META_DEFAULTS else ""
                defs.append(f"{_quote(name)} {type_}{' not null' if not_null else ''}{default}")
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
            if name in _META_DEFAULTS and (name not in columns or columns[name][1] is None):
                cur.execute(sql.SQL("alter table {} alter column {} set default " + _META_DEFAULTS[name]).format(
                    ident, sql.Identifier(name)))

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
            cur.execute("select to_regclass('unify_loader.load_ledger') is not null")
            if not cur.fetchone()[0]:
                self.conn.rollback()
                return found
            for start in range(0, len(keys), 5000):
                chunk = list(keys[start:start + 5000])
                cur.execute(
                    "select object_key, etag, status, batch_id, reason from unify_loader.load_ledger "
                    "where object_key = any(%s) order by recorded_at, batch_id",
                    (chunk,),
                )
                for key, etag, status, batch_id, reason in cur.fetchall():
                    found.setdefault(key, []).append(LedgerEntry(key, etag, status, batch_id, reason))
        self.conn.rollback()
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
        return (f"'{app or 'unknown client'}' (PostgreSQL backend {pid}, from {addr}, in a transaction since "
                f"{started:%Y-%m-%d %H:%M:%S %Z})")

    # ------------------------------------------------------------------------------ loading
    def load_batch(self, batch: Batch, checkpoint: Checkpoint = _noop, on_file: OnFile = _noop) -> list[FileOutcome]:
        outcomes: list[FileOutcome] = []
        raw_table = batch.table.qualified_raw_name if batch.table else None
        try:
            with self.conn.cursor() as cur:
                self._lock(cur, batch.batch_id)
                cur.execute("select (now() at time zone 'utc')")
                loaded_at = cur.fetchone()[0]
                cur.execute("select set_config(%s, %s, true), set_config(%s, %s, true)",
                            (CONTEXT_PREFIX + "batch_id", batch.batch_id,
                             CONTEXT_PREFIX + "loaded_at", loaded_at.isoformat(sep=" ")))
                done = self._loaded_now(cur, [f.key for f in batch.files] + [q.key for q in batch.quarantines])
                checkpoint("before_copy")
                columns = self._columns_now(cur, batch.table) if batch.table else {}
                done_keys = {k for k, _e in done}
                todo: list[FileLoad] = []
                for f in batch.files:
                    if not f.etag and f.resolve_etag is not None and f.key in done_keys:
                        f = dataclasses.replace(f, etag=f.resolve_etag())  # its key was loaded meanwhile
                    if (f.key, f.etag) in done:
                        outcome = FileOutcome(f.key, f.etag, f.size, raw_table, SKIPPED, done[(f.key, f.etag)])
                        outcomes.append(outcome)
                        on_file(outcome)
                    else:
                        todo.append(f)
                for run in _runs(todo):
                    for outcome in self._load_run(cur, batch, run, columns, checkpoint):
                        outcomes.append(outcome)
                        on_file(outcome)
                for q in batch.quarantines:
                    if (q.key, q.etag) in done:
                        outcome = FileOutcome(q.key, q.etag, q.size, raw_table, SKIPPED, done[(q.key, q.etag)])
                    else:
                        outcome = FileOutcome(q.key, q.etag, q.size, raw_table, QUARANTINED, batch.batch_id,
                                              reason=q.reason, line=q.line)
                    outcomes.append(outcome)
                    on_file(outcome)
                self._record(cur, batch, outcomes, loaded_at)
                checkpoint("after_copy")
            self.conn.commit()
        except psycopg2.Error as err:
            self._rollback()
            raise LoadFailure(f"batch {batch.batch_id} ({raw_table or 'quarantines'}) failed and was rolled back: "
                              f"{str(err).strip()}") from None
        except BaseException:
            self._rollback()
            raise
        checkpoint("after_commit")
        return outcomes

    def _rollback(self) -> None:
        try:
            self.conn.rollback()
        except psycopg2.Error:
            pass  # the connection is gone: the server rolled the transaction back itself

    @staticmethod
    def _loaded_now(cur, keys: list[str]) -> dict[tuple[str, str], str]:
        if not keys:
            return {}
        cur.execute("select object_key, etag, batch_id from unify_loader.load_ledger "
                    "where object_key = any(%s) and status = %s", (keys, LOADED))
        return {(key, etag): batch_id for key, etag, batch_id in cur.fetchall()}

    def _load_run(self, cur, batch: Batch, files: list[FileLoad], columns: dict[str, str],
                  checkpoint: Checkpoint) -> list[FileOutcome]:
        """Load files of one table that share their header and format with ONE COPY (see `_CsvRun`), under
        one savepoint. Optimistic: when the COPY fails on a file's data, the savepoint is rolled back, that
        file (named by the error's line) is loaded on its own, where it is quarantined with its own line,
        and the others are copied again together; after `MAX_RUN_RETRIES` failures, or when the failing
        file cannot be named, the rest are loaded one by one. A single file is loaded on its own."""
        outcomes: dict[int, FileOutcome] = {}
        pending = list(range(len(files)))
        for _attempt in range(self.MAX_RUN_RETRIES):
            if len(pending) < 2:
                break
            run = [files[i] for i in pending]
            try:
                got = self._copy_run(cur, batch, run, columns, checkpoint)
            except _RunFailed as failed:
                log_event(log, "run_copy_retry", logging.DEBUG, batch_id=batch.batch_id, files=len(run),
                          key=run[failed.index].key if failed.index is not None else None, reason=failed.reason)
                if failed.index is None:
                    break
                culprit = pending.pop(failed.index)
                outcomes[culprit] = self._load_file(cur, batch, files[culprit], columns, checkpoint)
                continue
            outcomes.update(zip(pending, got))
            pending = []
            break
        for i in pending:
            outcomes[i] = self._load_file(cur, batch, files[i], columns, checkpoint)
        return [outcomes[i] for i in range(len(files))]

    MAX_RUN_RETRIES = 3

    def _copy_run(self, cur, batch: Batch, files: list[FileLoad], columns: dict[str, str],
                  checkpoint: Checkpoint) -> list[FileOutcome]:
        """One COPY of a run of files under a savepoint; raises _RunFailed (savepoint rolled back) when the
        warehouse rejects the data, anything else as it is."""
        table = batch.table
        assert table is not None
        raw_table = table.qualified_raw_name
        ident = sql.Identifier(table.raw_schema, table.raw_table)
        first = files[0]
        fmt = first.file_format
        added = [(name, type_) for name, type_ in first.added_columns if name not in columns]
        options = [sql.SQL("format csv"), sql.SQL("header false")]
        if fmt.null_marker is not None:
            options.append(sql.SQL("null {}").format(sql.Literal(fmt.null_marker)))
        names = ["_source_key", "_source_row", *(c.raw_name for c in first.columns)]
        statement = sql.SQL("copy {} ({}) from stdin with ({})").format(
            ident, sql.SQL(", ").join(map(sql.Identifier, names)), sql.SQL(", ").join(options))
        run = _CsvRun(files)
        cur.execute("savepoint unify_run")
        stream = _CopyStream(run, lambda: checkpoint("during_copy"))
        try:
            for name, type_ in added:
                cur.execute(sql.SQL("alter table {} add column if not exists {} " + type_).format(
                    ident, sql.Identifier(name)))
            cur.copy_expert(statement, stream, size=1 << 20)
        except psycopg2.Error as err:
            stream.close()
            if isinstance(stream.error, _RunFileError):
                self._undo(cur, "unify_run")
                raise _RunFailed(stream.error.index, str(stream.error)) from None
            if stream.error is not None:  # the read failed (network) or a crash was injected: that, as is
                raise stream.error from None
            if not (err.pgcode or "").startswith(_DATA_ERROR_CLASSES):
                raise
            self._undo(cur, "unify_run")
            line = _pg_line(err)
            raise _RunFailed(run.file_at(line) if line is not None else None, _pg_reason(err)) from None
        finally:
            stream.close()
        records = run.records
        if cur.rowcount != sum(records):  # never silently: the numbering and COPY must agree
            raise LoadFailure(f"{raw_table}: COPY of {len(files)} files read {cur.rowcount} records, the loader "
                              f"numbered {sum(records)}")
        cur.execute("release savepoint unify_run")
        for name, type_ in added:
            columns[name] = type_
            log_event(log, "schema_drift_column_added", batch_id=batch.batch_id, table=raw_table, column=name,
                      type=type_, key=first.key)
        outcomes = []
        for i, f in enumerate(files):
            outcomes.append(FileOutcome(f.key, run.etag(i), f.size, raw_table, LOADED, batch.batch_id,
                                        rows=records[i], added_columns=tuple(n for n, _ in added) if i == 0 else ()))
            log_event(log, "file_loaded", logging.DEBUG, batch_id=batch.batch_id, key=f.key, table=raw_table,
                      rows=records[i])
        return outcomes

    @staticmethod
    def _undo(cur, savepoint: str) -> None:
        cur.execute(f"rollback to savepoint {savepoint}")
        cur.execute(f"release savepoint {savepoint}")

    def _load_file(self, cur, batch: Batch, f: FileLoad, columns: dict[str, str],
                   checkpoint: Checkpoint) -> FileOutcome:
        table = batch.table
        assert table is not None
        raw_table = table.qualified_raw_name
        ident = sql.Identifier(table.raw_schema, table.raw_table)
        cur.execute("savepoint unify_file")
        added: list[str] = []
        stream: _CopyStream | None = None
        arrow: _ArrowCsv | None = None
        try:
            for name, type_ in f.added_columns:
                if name not in columns:
                    cur.execute(sql.SQL("alter table {} add column if not exists {} " + type_).format(
                        ident, sql.Identifier(name)))
                    added.append(name)
            cur.execute("select set_config(%s, %s, true)", (CONTEXT_PREFIX + "source_key", f.key))
            rows = 0
            if f.columns and f.open_raw is not None and f.file_format.kind == "csv":
                rows, etag = self._copy_csv_as_landed(cur, ident, f, checkpoint)
                f = dataclasses.replace(f, etag=etag)
            elif f.columns:
                names = [c.raw_name for c in f.columns] + ["_source_row"]
                statement = sql.SQL("copy {} ({}) from stdin with (format csv)").format(
                    ident, sql.SQL(", ").join(map(sql.Identifier, names)))
                arrow = _ArrowCsv(f.record_batches)
                stream = _CopyStream(arrow, lambda: checkpoint("during_copy"))
                try:
                    cur.copy_expert(statement, stream, size=1 << 20)
                finally:
                    stream.close()
                rows = cur.rowcount
            cur.execute("release savepoint unify_file")
        except psycopg2.Error as err:
            if stream is not None and stream.error is not None:
                self._undo_file(cur)
                if isinstance(stream.error, QuarantineError):
                    return self._quarantined(batch, f, stream.error.reason, stream.error.line)
                raise stream.error from None
            if not (err.pgcode or "").startswith(_DATA_ERROR_CLASSES):
                raise
            self._undo_file(cur)
            line = _pg_line(err)
            if arrow is not None and line is not None:  # a line of the generated stream: which record?
                line = arrow.record_at(line)
            reason, line = prefer_diagnosis(f, _pg_reason(err), line, structural=err.pgcode == _BAD_COPY_FILE_FORMAT)
            return self._quarantined(batch, f, reason, line)
        except QuarantineError as err:
            self._undo_file(cur)
            return self._quarantined(batch, f, err.reason, err.line)
        for name in added:
            columns[name] = dict(f.added_columns)[name]
            log_event(log, "schema_drift_column_added", batch_id=batch.batch_id, table=raw_table, column=name,
                      type=columns[name], key=f.key)
        log_event(log, "file_loaded", logging.DEBUG, batch_id=batch.batch_id, key=f.key, table=raw_table, rows=rows)
        return FileOutcome(f.key, f.etag, f.size, raw_table, LOADED, batch.batch_id, rows=rows,
                           added_columns=tuple(added))

    @staticmethod
    def _copy_csv_as_landed(cur, ident, f: FileLoad, checkpoint: Checkpoint) -> tuple[int, str]:
        """COPY the landed CSV bytes, each record prefixed with its number (`_source_row`); errors name
        the file's own line (the header is line 1). Returns the rows and the ETag (the MD5 of the bytes
        read, when the listing did not hash the file)."""
        fmt = f.file_format
        header = sql.SQL("true" if fmt.header_rows else "false")
        options = [sql.SQL("format csv"), sql.SQL("header {}").format(header)]
        if fmt.null_marker is not None:
            options.append(sql.SQL("null {}").format(sql.Literal(fmt.null_marker)))
        names = ["_source_row", *(c.raw_name for c in f.columns)]
        statement = sql.SQL("copy {} ({}) from stdin with ({})").format(
            ident, sql.SQL(", ").join(map(sql.Identifier, names)), sql.SQL(", ").join(options))
        assert f.open_raw is not None and fmt.header_rows <= 1
        numbered = _NumberedCsv(f.open_raw, fmt.header_rows, hashed=not f.etag)
        stream = _CopyStream(numbered, lambda: checkpoint("during_copy"))
        try:
            cur.copy_expert(statement, stream, size=1 << 20)
        except psycopg2.Error:
            if stream.error is not None:  # the read failed (network) or a crash was injected: that, as is
                raise stream.error from None
            raise
        finally:
            stream.close()
        if cur.rowcount != numbered.records:  # never silently: the numbering and COPY must agree
            raise LoadFailure(f"{f.key}: COPY read {cur.rowcount} records, the loader numbered {numbered.records}")
        return cur.rowcount, f.etag or numbered.md5()

    @staticmethod
    def _undo_file(cur) -> None:
        PostgresWarehouse._undo(cur, "unify_file")

    @staticmethod
    def _quarantined(batch: Batch, f: FileLoad, reason: str, line: int | None) -> FileOutcome:
        raw_table = batch.table.qualified_raw_name if batch.table else None
        if not f.etag and f.resolve_etag is not None:  # rejected before its bytes were all hashed
            f = dataclasses.replace(f, etag=f.resolve_etag())
        log_event(log, "file_quarantined", logging.WARNING, batch_id=batch.batch_id, key=f.key, table=raw_table,
                  reason=reason, line=line)
        return FileOutcome(f.key, f.etag, f.size, raw_table, QUARANTINED, batch.batch_id, reason=reason, line=line)

    def _record(self, cur, batch: Batch, outcomes: list[FileOutcome], recorded_at) -> None:
        rows = [
            (o.key, o.etag, o.size, o.status, o.raw_table, o.rows if o.status == LOADED else None, o.batch_id,
             ledger.limit_text(o.reason), o.line, ",".join(o.added_columns) or None, recorded_at)
            for o in outcomes if o.status in (LOADED, QUARANTINED)
        ]
        if not rows:
            return
        execute_values(cur, sql.SQL("insert into {}.{} ({}) values %s").format(
            sql.Identifier(ledger.SCHEMA), sql.Identifier(ledger.LEDGER),
            sql.SQL(", ").join(map(sql.Identifier, ledger.LEDGER_INSERT_COLUMNS))).as_string(cur), rows,
            page_size=len(rows))  # one multi-row INSERT per batch
        cur.execute(
            sql.SQL("""
            insert into {schema}.{batches} (batch_id, raw_table, files_loaded, files_quarantined, rows_loaded,
                                            committed_at, loader)
            select %(batch)s, %(table)s,
                   count(*) filter (where status = 'loaded'), count(*) filter (where status = 'quarantined'),
                   coalesce(sum(rows_loaded), 0), %(at)s, %(loader)s
            from {schema}.{ledger} where batch_id = %(batch)s
            """).format(schema=sql.Identifier(ledger.SCHEMA), batches=sql.Identifier(ledger.BATCHES),
                        ledger=sql.Identifier(ledger.LEDGER)),
            {"batch": batch.batch_id, "table": batch.table.qualified_raw_name if batch.table else None,
             "at": recorded_at, "loader": self.loader_name},
        )


class _RunFailed(Exception):
    """The COPY of a run was rejected (and rolled back to its savepoint); `index`: the file it names, if any."""

    def __init__(self, index: int | None, reason: str):
        super().__init__(reason)
        self.index = index
        self.reason = reason


def _runs(files: Sequence[FileLoad]) -> list[list[FileLoad]]:
    """Consecutive files that can share one COPY: landed CSV with records, the same columns and format.
    Any other file (JSON, Parquet, a file without columns) is a run of its own."""
    runs: list[list[FileLoad]] = []
    shape = None
    for f in files:
        streamable = bool(f.columns) and f.open_raw is not None and f.file_format.kind == "csv" \
            and f.file_format.header_rows <= 1
        this = (tuple(f.columns), f.file_format, f.added_columns) if streamable else None
        if this is not None and this == shape:
            runs[-1].append(f)
        else:
            runs.append([f])
        shape = this
    return runs


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_CONTEXT = re.compile(r"line (\d+)(?:, column ([^:]+))?")


def _pg_reason(err: psycopg2.Error) -> str:
    """PostgreSQL's reason for rejecting a file, with the column; never the record's text (personal data)."""
    primary = err.diag.message_primary or str(err).strip().splitlines()[0]
    match = _CONTEXT.search(err.diag.context or "")
    column = f" (column {match.group(2)})" if match and match.group(2) else ""
    if err.pgcode == "22P04":  # bad_copy_file_format: missing or extra fields, unterminated quotes
        return clean_text(f"malformed CSV record: {primary}{column} (truncated or corrupt file)")
    if err.pgcode == "22021":  # character_not_in_repertoire: invalid UTF-8, NUL bytes
        return clean_text(f"not valid UTF-8 (corrupt file): {primary}{column}")
    return clean_text(f"rejected by the warehouse: {primary}{column}")


def _pg_line(err: psycopg2.Error) -> int | None:
    match = _CONTEXT.search(err.diag.context or "")
    return int(match.group(1)) if match else None


class _CopyStream:
    """A file-like object for `copy_expert`, filled by a producer thread through a small queue, so that
    preparing the next chunk and PostgreSQL's COPY of the previous one run at the same time.

    An exception in the producer (a corrupt file, a failed read) is re-raised from read(), which makes
    psycopg2 abort the COPY; it is kept in `error`, and so is one raised by `on_first_chunk` (the
    `during_copy` crash checkpoint).
    """

    def __init__(self, chunks: Callable[[], Iterator[bytes]], on_first_chunk: Callable[[], None]):
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._stop = threading.Event()
        self._first = True
        self._on_first_chunk = on_first_chunk
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


class _NumberedCsv:
    """A landed CSV file as it is, each record prefixed with its number (`17,...`), header lines untouched.

    Records are told apart exactly as PostgreSQL's COPY splits them: a line break ends a record unless
    the quote characters since the record's start are odd in number (RFC 4180 doubles a quote inside a
    value, which leaves the count even). Line numbers are unchanged, so COPY's errors name the file's
    own lines. The bytes read are hashed on the way (`md5`), the object's ETag when it was not listed.

    For a run of files in one COPY (`_CsvRun`): `prefix` goes before each number (the object key as a
    quoted CSV field, `"dms/.../x.csv",17,...`) and `keep_header=False` drops the header lines;
    `inside_quote` tells afterwards whether the file ended within a quoted value (a truncated file).
    """

    CHUNK_BYTES = 4 << 20

    def __init__(self, open_raw: Callable[[], BinaryIO], header_rows: int, hashed: bool, prefix: bytes = b"",
                 keep_header: bool = True):
        self._open_raw = open_raw
        self._header_rows = header_rows
        self._digest = hashlib.md5() if hashed else None
        self._format = prefix.replace(b"%", b"%%") + b"%d,%s"
        self._keep_header = keep_header
        self.records = 0
        self.inside_quote = False

    def md5(self) -> str:
        assert self._digest is not None
        return self._digest.hexdigest()

    def __call__(self) -> Iterator[bytes]:
        with self._open_raw() as handle:
            yield from self._numbered(handle)

    def _read(self, handle) -> bytes:
        data = handle.read(self.CHUNK_BYTES)
        if self._digest is not None:
            self._digest.update(data)
        return data

    def _numbered(self, handle) -> Iterator[bytes]:
        buf = b""
        for _ in range(self._header_rows):
            while b"\n" not in buf:
                data = self._read(handle)
                if not data:
                    break
                buf += data
            cut = buf.find(b"\n") + 1 or len(buf)
            if self._keep_header:
                yield buf[:cut]
            buf = buf[cut:]
        inside = False  # within a quoted value that spans lines
        number = 0
        fmt = self._format
        while True:
            data = self._read(handle)
            buf += data
            if data:
                cut = buf.rfind(b"\n") + 1
                if cut == 0:
                    continue
                body, buf = buf[:cut], buf[cut:]
            elif buf:
                body, buf = buf, b""  # a last line without a line break: kept as landed
            else:
                self.inside_quote = inside
                return
            lines = body.split(b"\n")
            last = lines.pop() if body.endswith(b"\n") else None  # "" after the final line break
            if not inside and b'"' not in body:
                out = [fmt % (number + i, line) for i, line in enumerate(lines, 1)]
                number += len(lines)
            else:
                out = []
                for line in lines:
                    if inside:
                        out.append(line)
                    else:
                        number += 1
                        out.append(fmt % (number, line))
                    if line.count(b'"') & 1:
                        inside = not inside
            if last is not None:
                out.append(last)
            self.records = number
            yield b"\n".join(out)


class _RunFileError(Exception):
    """A file of a run cannot go on in the shared COPY stream (it ends within a quoted value); `index`
    is its place in the run. Never a verdict on the file: the run falls back to loading it on its own."""

    def __init__(self, index: int, reason: str):
        super().__init__(reason)
        self.index = index


class _CsvRun:
    """Many CSV files of one raw table with the same header and format, as ONE stream for one COPY.

    Each file's header is dropped and each record is prefixed with the object key (a quoted CSV field:
    a key may hold commas or quotes) and its record number, so `_source_key` and `_source_row` come
    with the rows (`COPY raw (_source_key, _source_row, <header columns>) ... HEADER false`). A file
    whose last line has no line break gets one, in the style of the run's line breaks (LF or CRLF). Files are hashed as they stream when their ETag is not
    known. Output is gathered into chunks of about `CHUNK_BYTES`, so that a run of small files costs
    few hand-offs between the producer thread and COPY.

    `starts[i]` is the stream line where file i begins (1-based, as COPY counts lines), to name the
    file a COPY error is in; `records[i]` and `md5(i)` what the file held.
    """

    CHUNK_BYTES = 1 << 20

    def __init__(self, files: Sequence[FileLoad]):
        self.files = list(files)
        self.numbered = [_NumberedCsv(f.open_raw, f.file_format.header_rows, hashed=not f.etag,
                                      prefix=_csv_field(f.key) + b",", keep_header=False)
                         for f in self.files]  # type: ignore[arg-type]
        self.starts: list[int] = []

    @property
    def records(self) -> list[int]:
        return [n.records for n in self.numbered]

    def etag(self, i: int) -> str:
        return self.files[i].etag or self.numbered[i].md5()

    def file_at(self, line: int) -> int | None:
        """The index of the file holding a stream line (None when out of range)."""
        index = bisect.bisect_right(self.starts, line) - 1
        return index if 0 <= index < len(self.starts) else None

    def __call__(self) -> Iterator[bytes]:
        pending: list[bytes] = []
        size = 0
        line = 1
        # the line break of the files so far, for a last line without one: COPY takes the style of the
        # stream's first line and rejects the other (a one-line file without a break takes the run's)
        eol = b"\n"
        for i, numbered in enumerate(self.numbered):
            self.starts.append(line)
            ends_with_break = True
            for chunk in numbered():
                if not chunk:
                    continue
                pending.append(chunk)
                size += len(chunk)
                line += chunk.count(b"\n")
                ends_with_break = chunk.endswith(b"\n")
                if ends_with_break:
                    eol = b"\r\n" if chunk.endswith(b"\r\n") else b"\n"
                if size >= self.CHUNK_BYTES:
                    yield b"".join(pending)
                    pending, size = [], 0
            if numbered.inside_quote:
                raise _RunFileError(i, "the file ends within a quoted value")
            if not ends_with_break:
                pending.append(eol)
                line += 1
        if pending:
            yield b"".join(pending)


def _csv_field(text: str) -> bytes:
    """A value as a quoted CSV field (never NULL, whatever the NULL marker)."""
    return b'"' + text.encode("utf-8").replace(b'"', b'""') + b'"'
