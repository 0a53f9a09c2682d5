"""The SQL text the Redshift target sends: DDL, the batch transaction's statements, the bulk path's.

Everything is built from the contract's identifiers (always double-quoted) and string literals escaped for
Redshift (`'` doubled, backslash doubled): every statement of a batch carries its own values (the Data
API's parameters would apply to all statements of a batch alike). Object keys only ever appear as
literals, never as identifiers. pytests/load/test_load_redshift.py parses every statement with sqlglot's
Redshift dialect.

One batch is one BatchExecuteStatement, which runs its statements as one transaction and takes at most
MAX_STATEMENTS of them (the Data API's limit):

    LOCK unify_loader.load_ledger;                      -- the load lock: concurrent loaders queue here
    CREATE TEMP TABLE unify_batch_clock AS SELECT GREATEST(GETDATE(), <newest committed_at> + 1 µs);
                                                        -- after the LOCK (GETDATE is the statement's
                                                        -- start): a later commit gets a later _loaded_at
    [ALTER TABLE raw ADD COLUMN ...]                    -- schema drift: a column a file adds
    [CREATE TABLE raw__unify_widen ...; INSERT ... SELECT CAST(...); DROP TABLE raw; ALTER ... RENAME]
                                                        -- schema drift: a column widened to a type Redshift
                                                        -- cannot ALTER to (a deep copy in the transaction)
    per file i (the per-event path):
      CREATE TEMP TABLE unify_stage_i (the file's columns, typed as the raw table);
      COPY unify_stage_i (header columns) FROM 's3://<manifests>/<batch>/<i>.manifest' ... MANIFEST;
      [SELECT ... 1/0 when an Op is not I, U or D]      -- DMS: Redshift enforces no CHECK constraint
      INSERT INTO raw SELECT ..., '<key>', NULL, '<batch>', clock FROM unify_stage_i WHERE <not loaded>;
      INSERT INTO ledger ... 'loaded', <row count> ... WHERE <not loaded>;
    INSERT INTO ledger ... 'quarantined' | 'duplicate' ... (UNION ALL, one statement);
    INSERT INTO load_batches SELECT <counts> FROM ledger WHERE batch_id = '<batch>';

A varchar that must grow is ALTERed before the batch, on its own (Redshift can ALTER COLUMN TYPE only for
varchar length, and not inside a transaction block); every other widening is a deep copy inside the batch
(Redshift cannot change a column's type, and cannot drop a DISTKEY column, so add-copy-drop-rename of the
column is not an option either): the new table is created with the raw table's DDL and keys, filled with
INSERT ... SELECT (CAST for the widened column), the old one dropped and the new one renamed, all in the
batch transaction, which the LOCK and Redshift's serializable isolation keep whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from loaders import ledger
from loaders.evolution import SqlType
from loaders.records import FileColumn, FileFormat, FileLoad
from loaders.source_tables import SourceTable
from loaders.warehouse.base import distribution_key, raw_columns

MAX_STATEMENTS = 40  # BatchExecuteStatement's Sqls: 1..40 items (botocore's service model)
STAGE = "unify_stage_"
CLOCK = "unify_batch_clock"
SORT_KEY = "_loaded_at"  # raw tables are sorted by load time; distributed by a key column
WIDEN_SUFFIX = "__unify_widen"


def quote_ident(name: str) -> str:
    if not name or "\x00" in name:
        raise ValueError(f"invalid identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def literal(value: str | None) -> str:
    """A Redshift string literal. Redshift reads backslash escapes in literals, so both ' and \\ are doubled."""
    if value is None:
        return "NULL"
    if "\x00" in value:
        raise ValueError("a NUL character cannot appear in a Redshift literal")
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def number(value: int | None) -> str:
    return "NULL" if value is None else str(int(value))


def raw_table_name(table: SourceTable) -> str:
    return qualified(table.raw_schema, table.raw_table)


def create_raw_table_sql(table: SourceTable, types: Mapping[str, str] | None = None, name: str | None = None,
                         if_not_exists: bool = True) -> str:
    """The raw table's DDL: its contract columns (or, for a deep copy, `types`: every column it has now, in
    order, drift columns included), DISTKEY a key column, COMPOUND SORTKEY _loaded_at."""
    not_null = {n for n, _t, nn in raw_columns(table) if nn}
    columns = types or {n: t for n, t, _nn in raw_columns(table)}
    defs = ", ".join(f"{quote_ident(n)} {t}{' NOT NULL' if n in not_null else ''}" for n, t in columns.items())
    target = qualified(table.raw_schema, name or table.raw_table)
    return (f"CREATE TABLE {'IF NOT EXISTS ' if if_not_exists else ''}{target} ({defs}) "
            f"DISTSTYLE KEY DISTKEY ({quote_ident(distribution_key(table))}) "
            f"COMPOUND SORTKEY ({quote_ident(SORT_KEY)})")


def table_keys_sql(schemas: Sequence[str]) -> str:
    """Distribution and sort key columns of the tables in these schemas (Redshift's own pg_attribute columns:
    `attisdistkey`; `attsortkeyord` > 0 is the column's place in a compound sort key, < 0 interleaved)."""
    in_list = ", ".join(literal(s) for s in sorted(set(schemas)))
    return ("SELECT TRIM(n.nspname), TRIM(c.relname), TRIM(a.attname), a.attisdistkey, a.attsortkeyord "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid "
            f"WHERE c.relkind = 'r' AND n.nspname IN ({in_list}) AND a.attnum > 0 "
            "AND (a.attisdistkey OR a.attsortkeyord <> 0) ORDER BY 1, 2, a.attsortkeyord")


def alter_keys_sql(table: SourceTable, distkey: str | None, sortkey: Sequence[str]) -> list[str]:
    """ALTERs that give an existing raw table the keys `create_raw_table_sql` gives a new one (each must
    run on its own: Redshift refuses ALTER DISTKEY/SORTKEY inside a transaction block)."""
    name = raw_table_name(table)
    statements = []
    if distkey != distribution_key(table):
        statements.append(f"ALTER TABLE {name} ALTER DISTSTYLE KEY DISTKEY {quote_ident(distribution_key(table))}")
    if tuple(sortkey) != (SORT_KEY,):
        statements.append(f"ALTER TABLE {name} ALTER COMPOUND SORTKEY ({quote_ident(SORT_KEY)})")
    return statements


def ledger_ddl() -> list[str]:
    return [
        f"CREATE SCHEMA IF NOT EXISTS {quote_ident(ledger.SCHEMA)}",
        f"CREATE TABLE IF NOT EXISTS {qualified(ledger.SCHEMA, ledger.LEDGER)} "
        f"({ledger.column_defs(ledger.LEDGER_COLUMNS, quote_ident)}) "
        f"DISTSTYLE EVEN SORTKEY ({quote_ident('object_key')})",
        f"CREATE TABLE IF NOT EXISTS {qualified(ledger.SCHEMA, ledger.BATCHES)} "
        f"({ledger.column_defs(ledger.BATCH_COLUMNS, quote_ident)}) "
        f"DISTSTYLE EVEN SORTKEY ({quote_ident('committed_at')})",
    ]


def ledger_migrations(existing: Mapping[str, str]) -> list[str]:
    """ADD COLUMN for the ledger columns a ledger from before them lacks (old rows keep NULL)."""
    return [f"ALTER TABLE {qualified(ledger.SCHEMA, ledger.LEDGER)} ADD COLUMN {quote_ident(name)} {type_}"
            for name, type_, _nn in ledger.LEDGER_COLUMNS if name not in existing]


def newest_batches_sql() -> str:
    """(raw table, newest commit time) over the load_batches that wrote rows (a batch of quarantines or
    empty files changed no raw table); raw_table is `raw_<system>.<table>`."""
    return (f"SELECT {quote_ident('raw_table')}, MAX({quote_ident('committed_at')}) "
            f"FROM {qualified(ledger.SCHEMA, ledger.BATCHES)} WHERE {quote_ident('rows_loaded')} > 0 "
            f"GROUP BY {quote_ident('raw_table')}")


def build_marks_sql(dbt_schema: str) -> str:
    return (f"SELECT {quote_ident('raw_table')}, {quote_ident('consumed_through')} "
            f"FROM {qualified(ledger.SCHEMA, ledger.BUILD_MARKS)} WHERE {quote_ident('dbt_schema')} = {literal(dbt_schema)}")


def record_build_marks_sql(dbt_schema: str, marks: Mapping[str, str]) -> list[str]:
    """One transaction (a BatchExecuteStatement): the marks table if missing, then the given raw tables'
    marks of `dbt_schema` replaced (`marks`: raw table -> timestamp text, UTC)."""
    table = qualified(ledger.SCHEMA, ledger.BUILD_MARKS)
    rows = ", ".join(f"({literal(dbt_schema)}, {literal(raw_table)}, CAST({literal(at)} AS TIMESTAMP), GETDATE())"
                     for raw_table, at in sorted(marks.items()))
    return [
        f"CREATE TABLE IF NOT EXISTS {table} ({ledger.column_defs(ledger.BUILD_MARK_COLUMNS, quote_ident)}) "
        f"DISTSTYLE ALL",
        f"DELETE FROM {table} WHERE {quote_ident('dbt_schema')} = {literal(dbt_schema)} "
        f"AND {quote_ident('raw_table')} IN ({', '.join(literal(t) for t in sorted(marks))})",
        f"INSERT INTO {table} ({', '.join(quote_ident(c) for c, _, _ in ledger.BUILD_MARK_COLUMNS)}) VALUES {rows}",
    ]


def lock_sql() -> str:
    return f"LOCK {qualified(ledger.SCHEMA, ledger.LEDGER)}"


def clock_sql() -> str:
    """The batch's _loaded_at, read once right after the LOCK is granted: GETDATE() (this statement's start;
    SYSDATE would be the transaction's, from before the LOCK wait), or 1 µs after the newest committed
    batch's stamp when the clock is not past it. GETDATE() has whole seconds, so two batches in one second
    would tie, and a clock stepped back would stamp a batch before one already seen: the stamps rise
    strictly in commit order either way (load_batches is sorted by committed_at). The statement is the
    transaction's first read, so its snapshot, taken after the LOCK, holds every batch committed before."""
    newest = (f"(SELECT DATEADD(microsecond, 1, MAX({quote_ident('committed_at')})) "
              f"FROM {qualified(ledger.SCHEMA, ledger.BATCHES)})")
    return (f"CREATE TEMP TABLE {quote_ident(CLOCK)} AS "
            f"SELECT GREATEST(GETDATE(), COALESCE({newest}, GETDATE())) AS {quote_ident('loaded_at')}")


def add_column_sql(table: SourceTable, name: str, type_: str) -> str:
    return f"ALTER TABLE {raw_table_name(table)} ADD COLUMN {quote_ident(name)} {type_}"


def alter_varchar_sql(table: SourceTable, name: str, type_: str) -> str:
    """The one type change Redshift ALTERs in place: a longer varchar (outside a transaction block)."""
    return f"ALTER TABLE {raw_table_name(table)} ALTER COLUMN {quote_ident(name)} TYPE {type_}"


def is_varchar_growth(old: str, new: str) -> bool:
    return SqlType.parse(old).name == "varchar" and SqlType.parse(new).name == "varchar"


def deep_copy_sql(table: SourceTable, types: Mapping[str, str], widen: Mapping[str, str]) -> list[str]:
    """A raw table rebuilt with some columns wider, in the current transaction (the documented deep copy)."""
    new_types = {name: widen.get(name, type_) for name, type_ in types.items()}
    temp = table.raw_table + WIDEN_SUFFIX
    columns = ", ".join(quote_ident(n) for n in types)
    values = ", ".join(f"CAST({quote_ident(n)} AS {widen[n]})" if n in widen else quote_ident(n) for n in types)
    return [
        create_raw_table_sql(table, new_types, temp, if_not_exists=False),
        f"INSERT INTO {qualified(table.raw_schema, temp)} ({columns}) SELECT {values} FROM {raw_table_name(table)}",
        f"DROP TABLE {raw_table_name(table)}",
        f"ALTER TABLE {qualified(table.raw_schema, temp)} RENAME TO {quote_ident(table.raw_table)}",
    ]


def create_stage_sql(stage: str, file: FileLoad, text: bool = False) -> str:
    """A temp table with the file's columns, in the file's order (Parquet COPY maps by position), typed as
    the file holds them (a timestamp whose text may carry a zone offset as TIMESTAMPTZ: `_zoned_text`), or
    all as varchar(65535) (`text`: for profiling)."""
    def stage_type(c: FileColumn) -> str:
        return "varchar(65535)" if text else "TIMESTAMPTZ" if _zoned_text(file, c) else c.file_type
    columns = ", ".join(f"{quote_ident(c.raw_name)} {stage_type(c)}" for c in file.columns)
    return f"CREATE TEMP TABLE {quote_ident(stage)} ({columns})"


def _zoned_text(file: FileLoad, c: FileColumn) -> bool:
    """A timestamp column of a CSV file whose timestamps may carry a zone offset (FileFormat.zone_offsets:
    the TMS). Redshift, like PostgreSQL, ignores an offset in a value for a TIMESTAMP column; COPY into
    TIMESTAMPTZ converts it to UTC (and takes a value without one in the session's zone, UTC: the loader's
    database user keeps Redshift's default), and the INSERT takes it AT TIME ZONE 'UTC'. JSON and Parquet
    text values are staged as text and cast to TIMESTAMPTZ in the INSERT (`insert_raw_sql`)."""
    return (file.file_format.zone_offsets and file.file_format.kind == "csv"
            and SqlType.parse(c.file_type).name == "timestamp")


def copy_options(fmt: FileFormat) -> list[str]:
    """The documented COPY options for each format (SOURCE_FORMATS.md, "Amazon Redshift COPY")."""
    if fmt.kind == "csv":
        options = ["FORMAT AS CSV", "IGNOREBLANKLINES"]  # a writer's extra line break after the last record
        if fmt.header_rows:
            options.append(f"IGNOREHEADER {int(fmt.header_rows)}")
        if fmt.null_marker:
            options.append(f"NULL AS {literal(fmt.null_marker)}")
        if fmt.empty_is_null:
            options.append("EMPTYASNULL")
        options += ["TIMEFORMAT 'auto'", "DATEFORMAT 'auto'", "COMPUPDATE OFF", "STATUPDATE OFF"]
    elif fmt.kind == "json":
        options = ["FORMAT AS JSON 'auto ignorecase'", "TIMEFORMAT 'auto'", "DATEFORMAT 'auto'",
                   "COMPUPDATE OFF", "STATUPDATE OFF"]
    elif fmt.kind == "parquet":
        options = ["FORMAT AS PARQUET"]  # columns by position; MAXERROR and text options do not apply
    else:
        raise ValueError(f"no COPY options for format {fmt.kind!r}")
    return options + ["MANIFEST"]


def copy_sql(stage: str, file: FileLoad, manifest: str, iam_role: str) -> str:
    column_list = ""
    if file.file_format.kind in ("csv", "json"):  # CSV: header names -> columns; JSON: the keys to pick
        column_list = " (" + ", ".join(quote_ident(c.raw_name) for c in file.columns) + ")"
    return (f"COPY {quote_ident(stage)}{column_list} FROM {literal(manifest)} IAM_ROLE {literal(iam_role)} "
            + " ".join(copy_options(file.file_format)))


def op_check_sql(stage: str) -> str:
    """Fails (division by zero) when a staged row's DMS Op is not I, U or D: Redshift enforces no CHECK
    constraint, so the batch asserts it (the statement's role tells the loader what the failure means)."""
    return (f"SELECT 1 / (CASE WHEN COUNT(*) > 0 THEN 0 ELSE 1 END) FROM {quote_ident(stage)} "
            f"WHERE {quote_ident('op')} IS NULL OR {quote_ident('op')} NOT IN ('I', 'U', 'D')")


def identity_sql(alias: str, key: str, etag: str, checksum: str) -> str:
    """A ledger row (alias) about this key's bytes: the same content checksum, or, for a row written before
    checksums, the same ETag."""
    a = quote_ident(alias)
    same = (f"({a}.\"content_checksum\" = {literal(checksum)} OR ({a}.\"content_checksum\" IS NULL AND "
            f"{a}.\"etag\" = {literal(etag)}))") if checksum else f"{a}.\"etag\" = {literal(etag)}"
    return f"{a}.\"object_key\" = {literal(key)} AND {same}"


def not_decided_sql(key: str, etag: str, checksum: str, known_batches: Sequence[str] = (),
                    quarantines_too: bool = False) -> str:
    """The guard of every row a batch writes for an object: no ledger row says these bytes are loaded (or a
    duplicate); with `quarantines_too`, nor quarantined by a batch this run did not know of (another loader
    decided meanwhile: never the same quarantine twice)."""
    settled = "l.\"status\" IN ('loaded', 'duplicate')"
    if quarantines_too:
        other = f" AND l.\"batch_id\" NOT IN ({', '.join(literal(b) for b in sorted(known_batches))})" \
            if known_batches else ""
        settled = f"({settled} OR (l.\"status\" = 'quarantined'{other}))"
    return (f"NOT EXISTS (SELECT 1 FROM {qualified(ledger.SCHEMA, ledger.LEDGER)} l "
            f"WHERE {identity_sql('l', key, etag, checksum)} AND {settled})")


def _clock() -> str:
    return f"(SELECT {quote_ident('loaded_at')} FROM {quote_ident(CLOCK)})"


def insert_raw_sql(table: SourceTable, stage: str, file: FileLoad, table_types: Mapping[str, str],
                   batch_id: str) -> str:
    targets = [quote_ident(c.raw_name) for c in file.columns]
    literal_nulls = file.literal_nulls
    values = []
    for c in file.columns:
        raw_type = table_types.get(c.raw_name, c.file_type)
        expr = quote_ident(c.raw_name)
        if c.raw_name in literal_nulls:  # NOT NULL text: DMS's NULL marker is the source's own text
            expr = f"COALESCE({expr}, 'NULL')"
        elif _zoned_text(file, c):  # staged as TIMESTAMPTZ
            expr = f"{expr} AT TIME ZONE 'UTC'"
        elif file.file_format.zone_offsets and SqlType.parse(raw_type).name == "timestamp" \
                and SqlType.parse(c.file_type).name in ("varchar", "text"):  # AppFlow JSON, Parquet of text
            expr = f"CAST({expr} AS TIMESTAMPTZ) AT TIME ZONE 'UTC'"
        elif not SqlType.parse(c.file_type) == SqlType.parse(raw_type):  # Parquet's own types (double -> numeric)
            expr = f"CAST({expr} AS {raw_type})"
        values.append(expr)
    targets += [quote_ident(n) for n in ("_source_key", "_source_row", "_batch_id", "_loaded_at")]
    values += [literal(file.key), "CAST(NULL AS BIGINT)", literal(batch_id), _clock()]
    return (f"INSERT INTO {raw_table_name(table)} ({', '.join(targets)}) "
            f"SELECT {', '.join(values)} FROM {quote_ident(stage)} "
            f"WHERE {not_decided_sql(file.key, file.etag, file.checksum)}")


def _ledger_columns() -> str:
    return ", ".join(quote_ident(c) for c in ledger.LEDGER_INSERT_COLUMNS)


def ledger_values(key: str, etag: str, size: int, status: str, raw_table: str | None, rows: str, batch_id: str,
                  reason: str | None, line: int | None, added: Sequence[str], checksum: str,
                  widened: Sequence[str] = ()) -> list[str]:
    """One ledger row's values, in LEDGER_INSERT_COLUMNS order (`rows`: an SQL expression)."""
    return [literal(key), literal(etag or checksum), number(size), literal(status), literal(raw_table), rows,
            literal(batch_id), literal(ledger.limit_text(reason)), number(line),
            literal(",".join(added)) if added else "NULL", _clock(), literal(checksum or None),
            literal(ledger.limit_text(ledger.WIDENED_SEPARATOR.join(widened))) if widened else "NULL"]


def insert_ledger_loaded_sql(table: SourceTable, stage: str | None, file: FileLoad, batch_id: str,
                             added: Sequence[str], widened: Sequence[str] = ()) -> str:
    rows = "c.n" if stage else "0"
    values = ledger_values(file.key, file.etag, file.size, "loaded", table.qualified_raw_name, rows, batch_id,
                           None, None, added, file.checksum, widened)
    source = f" FROM (SELECT COUNT(*) AS n FROM {quote_ident(stage)}) AS c" if stage else ""
    return (f"INSERT INTO {qualified(ledger.SCHEMA, ledger.LEDGER)} ({_ledger_columns()}) "
            f"SELECT {', '.join(values)}{source} WHERE {not_decided_sql(file.key, file.etag, file.checksum)}")


@dataclass(frozen=True)
class Decision:
    """A ledger row decided without loading: a quarantine or a duplicate."""

    key: str
    etag: str
    size: int
    status: str
    reason: str | None
    line: int | None
    checksum: str
    known_batches: frozenset[str] = frozenset()


def insert_decisions_sql(raw_table: str | None, decisions: Sequence[Decision], batch_id: str) -> str:
    """Every quarantine and duplicate of a batch in one INSERT (UNION ALL), each under its own guard."""
    branches = []
    for d in decisions:
        values = ledger_values(d.key, d.etag, d.size, d.status, raw_table, "NULL", batch_id, d.reason, d.line, (),
                               d.checksum)
        branches.append(f"SELECT {', '.join(values)} WHERE "
                        f"{not_decided_sql(d.key, d.etag, d.checksum, tuple(d.known_batches), quarantines_too=True)}")
    return f"INSERT INTO {qualified(ledger.SCHEMA, ledger.LEDGER)} ({_ledger_columns()}) " + " UNION ALL ".join(branches)


def insert_batch_sql(batch_id: str, raw_table: str | None, loader: str) -> str:
    ledger_table = qualified(ledger.SCHEMA, ledger.LEDGER)
    columns = ", ".join(quote_ident(c) for c, _, _ in ledger.BATCH_COLUMNS)
    return (f"INSERT INTO {qualified(ledger.SCHEMA, ledger.BATCHES)} ({columns}) "
            f"SELECT {literal(batch_id)}, {literal(raw_table)}, "
            f"SUM(CASE WHEN \"status\" = 'loaded' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN \"status\" = 'quarantined' THEN 1 ELSE 0 END), "
            f"COALESCE(SUM(\"rows_loaded\"), 0), MAX(\"recorded_at\"), {literal(loader)} "
            f"FROM {ledger_table} WHERE \"batch_id\" = {literal(batch_id)} HAVING COUNT(*) > 0")


@dataclass(frozen=True)
class Statement:
    sql: str
    role: str  # lock | clock | alter | widen | stage | copy | check | insert | ledger | decisions | batch
    file_index: int | None = None


def file_statements(table: SourceTable, i: int, f: FileLoad, manifest: str | None, iam_role: str,
                    table_types: Mapping[str, str], batch_id: str, widened: Sequence[str] = ()) -> list[Statement]:
    """The statements that load one file of the per-event path (stage, COPY, Op check, INSERT, ledger)."""
    added = [n for n, _ in f.added_columns if n not in table_types]
    if not f.columns or manifest is None:  # a file without records (an empty AppFlow part): a ledger row only
        return [Statement(insert_ledger_loaded_sql(table, None, f, batch_id, ()), "ledger", i)]
    stage = f"{STAGE}{i}"
    statements = [Statement(create_stage_sql(stage, f), "stage", i),
                  Statement(copy_sql(stage, f, manifest, iam_role), "copy", i)]
    if any(c.raw_name == "op" for c in f.columns) and any(c.raw_name == "op" for c in table.delivery_columns):
        statements.append(Statement(op_check_sql(stage), "check", i))
    statements += [Statement(insert_raw_sql(table, stage, f, table_types, batch_id), "insert", i),
                   Statement(insert_ledger_loaded_sql(table, stage, f, batch_id, added, widened), "ledger", i)]
    return statements


def batch_script(batch_id: str, table: SourceTable | None, files: Sequence[FileLoad], table_types: Mapping[str, str],
                 manifests: Mapping[int, str], iam_role: str, loader: str, decisions: Sequence[Decision] = (),
                 deep_copies: Mapping[str, str] | None = None, widened: Mapping[str, Sequence[str]] | None = None
                 ) -> list[Statement]:
    """The statements of one per-event batch transaction, each tagged with what it does and for which file.
    `deep_copies`: columns to widen by rebuilding the table (column -> new type); `widened`: per file key,
    the changes it brought (for its ledger row)."""
    statements = [Statement(lock_sql(), "lock"), Statement(clock_sql(), "clock")]
    known = dict(table_types)
    if table is not None:
        for f in files:
            for name, type_ in f.added_columns:
                if name not in known:
                    statements.append(Statement(add_column_sql(table, name, type_), "alter"))
                    known[name] = type_
        if deep_copies:
            statements += [Statement(s, "widen") for s in deep_copy_sql(table, known, deep_copies)]
            known.update(deep_copies)
        for i, f in enumerate(files):
            statements += file_statements(table, i, f, manifests.get(i), iam_role, known, batch_id,
                                          (widened or {}).get(f.key, ()))
    raw_table = table.qualified_raw_name if table else None
    if decisions:
        statements.append(Statement(insert_decisions_sql(raw_table, decisions, batch_id), "decisions"))
    statements.append(Statement(insert_batch_sql(batch_id, raw_table, loader), "batch"))
    return statements


def statements_per_file(table: SourceTable | None) -> int:
    """How many statements one file adds to a per-event batch (for the MAX_STATEMENTS budget)."""
    has_op = table is not None and any(c.raw_name == "op" for c in table.delivery_columns)
    return 5 if has_op else 4


def profile_script(f: FileLoad, manifest: str, iam_role: str, profile_query: str) -> list[str]:
    """A file copied into a temp table of text columns, then profiled (evolution.profile_sql): the third
    statement's result says which widening the file needs. Nothing is written."""
    stage = "unify_profile"
    return [create_stage_sql(stage, f, text=True), copy_sql(stage, f, manifest, iam_role), profile_query]
