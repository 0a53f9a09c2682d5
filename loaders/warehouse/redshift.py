"""The production target: Amazon Redshift, loaded with `COPY ... FROM 's3://...manifest' MANIFEST` through
the Redshift Data API (boto3 `redshift-data`: no driver, no VPC connection to manage in a Lambda).

How one batch runs (one BatchExecuteStatement = one transaction, rolled back whole if any statement fails):

    LOCK unify_loader.load_ledger;                       -- the load lock: concurrent loaders queue here
    [ALTER TABLE raw ADD COLUMN ...]                     -- schema drift found at plan time
    per file i:
      CREATE TEMP TABLE unify_stage_i (the file's columns, in the file's order, typed as the file holds them);
      COPY unify_stage_i [(header columns)] FROM 's3://<manifests>/<batch>/<i>.manifest' IAM_ROLE '...'
           <per-format options> MANIFEST;               -- one entry: exactly this object
      INSERT INTO raw (...) SELECT <columns, cast to raw types>, '<key>', NULL, '<batch>', SYSDATE
           FROM unify_stage_i WHERE NOT EXISTS (<ledger says this key+ETag is loaded>);
      INSERT INTO ledger ... 'loaded', <row count> ... WHERE NOT EXISTS (<same guard>);
      DROP TABLE unify_stage_i;
    INSERT INTO ledger ... 'quarantined' ... (plan-time quarantines, same guard);
    INSERT INTO load_batches SELECT <counts> FROM ledger WHERE batch_id = '<batch>';

Why a COPY per file into a temp table: COPY carries no file name per row, so per-file COPYs are what
let `_source_key` name each row's file exactly; the temp table also takes Parquet's by-position column
mapping (its columns are the file's, in order) and the drift columns. Cost: one COPY's fixed overhead
(typically a second or two) per file instead of per batch; DMS CDC files arrive about once a minute per
table, so in steady state (one Lambda per S3 event) that is one COPY per file anyway, while a backfill
of thousands of small files pays it per file. `_source_row` stays NULL on Redshift: COPY assigns no
ordinal that follows the file's order (IDENTITY values do not), and the contract leaves it nullable;
versions are ordered by the source's own key (dms_change_seq, SystemModstamp, updated_at), then by file.

Exactly once without a driver session: the guard `NOT EXISTS (ledger row 'loaded' for key+ETag)` is
evaluated after `LOCK`, so if two loaders race for the same object the second inserts nothing; and a
client that dies after submitting leaves a transaction that commits or rolls back on its own, which a
rerun sees in the ledger. A COPY that fails is looked up in SYS_LOAD_ERROR_DETAIL (file, line, column,
reason), by the file's URL; if the warehouse reports load errors for that file it is quarantined and the
batch re-runs without it. An INSERT that fails on a value (a cast, a NOT NULL column) quarantines its
file too. Any other failure (S3 access, the IAM role, grants) fails the run instead of quarantining data.

SQL is built from the contract's identifiers (always double-quoted) and string literals escaped for
Redshift (`'` doubled, backslash doubled), because every statement of a batch carries its own values
(the Data API's batch parameters would apply to all statements alike). Object keys only ever appear as
literals, never as identifiers.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from loaders import ledger
from loaders.errors import LoadFailure, LockTimeout, clean_text
from loaders.records import (LOADED, SKIPPED, Batch, FileFormat, FileLoad, FileOutcome,
                                  LedgerEntry)
from loaders.logs import log_event
from loaders.manifest import ManifestEntry, manifest_url, write_manifest
from loaders.source_tables import SourceTable
from loaders.warehouse.base import (Checkpoint, OnFile, Warehouse, _noop, distribution_key, prefer_diagnosis,
                                    raw_columns)

log = logging.getLogger("loaders.warehouse.redshift")

STAGE = "unify_stage_"
# Raw tables are sorted by load time (incremental models read "loaded since"; zone maps skip the rest)
# and distributed by a key column (warehouse/base.py `distribution_key`).
SORT_KEY = "_loaded_at"
TERMINAL = ("FINISHED", "FAILED", "ABORTED")
_RETRYABLE_API_ERRORS = ("ThrottlingException", "ActiveStatementsExceededException", "InternalServerException",
                         "ActiveSessionsExceededException")


# ------------------------------------------------------------------------------------------ config
@dataclass(frozen=True)
class RedshiftConfig:
    """Where and as whom to load; read from the same variables as profiles.yml.example, plus the loader's."""

    database: str
    iam_role: str  # the role COPY assumes to read S3 (IAM_ROLE)
    manifest_prefix: str  # s3://bucket/prefix where manifests are written
    workgroup: str | None = None  # Serverless
    cluster_id: str | None = None  # provisioned
    secret_arn: str | None = None
    db_user: str | None = None  # provisioned, temporary credentials
    region: str | None = None
    poll_s: float = 1.0
    statement_timeout_s: float = 3600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "RedshiftConfig":
        """REDSHIFT_WORKGROUP | REDSHIFT_CLUSTER_ID (+ UNIFY_REDSHIFT_SECRET_ARN or REDSHIFT_DB_USER),
        REDSHIFT_DATABASE (unify), UNIFY_REDSHIFT_COPY_ROLE_ARN, UNIFY_REDSHIFT_MANIFEST_PREFIX
        (default: s3://<landing bucket>/_unify/manifests when UNIFY_LANDING is on S3), AWS_REGION."""
        manifest = env.get("UNIFY_REDSHIFT_MANIFEST_PREFIX", "").strip()
        landing = env.get("UNIFY_LANDING", "")
        if not manifest and landing.startswith("s3://"):
            bucket = landing[5:].split("/", 1)[0]
            manifest = f"s3://{bucket}/_unify/manifests"
        config = cls(
            database=env.get("REDSHIFT_DATABASE") or "unify",
            iam_role=env.get("UNIFY_REDSHIFT_COPY_ROLE_ARN", "").strip(),
            manifest_prefix=manifest,
            workgroup=env.get("REDSHIFT_WORKGROUP") or None,
            cluster_id=env.get("REDSHIFT_CLUSTER_ID") or None,
            secret_arn=env.get("UNIFY_REDSHIFT_SECRET_ARN") or None,
            db_user=env.get("REDSHIFT_DB_USER") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        )
        config.validate()
        return config

    def validate(self) -> None:
        problems = []
        if bool(self.workgroup) == bool(self.cluster_id):
            problems.append("set exactly one of REDSHIFT_WORKGROUP (Serverless) and REDSHIFT_CLUSTER_ID (provisioned)")
        if self.cluster_id and not (self.secret_arn or self.db_user):
            problems.append("a provisioned cluster needs UNIFY_REDSHIFT_SECRET_ARN or REDSHIFT_DB_USER")
        if not self.iam_role.startswith("arn:aws"):
            problems.append("UNIFY_REDSHIFT_COPY_ROLE_ARN must be the ARN of the IAM role COPY uses to read S3")
        if not self.manifest_prefix.startswith("s3://"):
            problems.append("UNIFY_REDSHIFT_MANIFEST_PREFIX must be an s3:// prefix for COPY manifests")
        if problems:
            raise LoadFailure("Redshift target not configured: " + "; ".join(problems))

    def target_params(self) -> dict[str, str]:
        params = {"Database": self.database}
        if self.workgroup:
            params["WorkgroupName"] = self.workgroup
        else:
            params["ClusterIdentifier"] = str(self.cluster_id)
        if self.secret_arn:
            params["SecretArn"] = self.secret_arn
        elif self.db_user:
            params["DbUser"] = self.db_user
        return params

    def describe(self) -> str:
        where = f"workgroup {self.workgroup}" if self.workgroup else f"cluster {self.cluster_id}"
        return f"redshift://{where}/{self.database}"


# ------------------------------------------------------------------------------------------ SQL text
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


def create_raw_table_sql(table: SourceTable) -> str:
    columns = ", ".join(f"{quote_ident(name)} {type_}{' NOT NULL' if not_null else ''}"
                        for name, type_, not_null in raw_columns(table))
    return (f"CREATE TABLE IF NOT EXISTS {qualified(table.raw_schema, table.raw_table)} ({columns}) "
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
    name = qualified(table.raw_schema, table.raw_table)
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


def lock_sql() -> str:
    return f"LOCK {qualified(ledger.SCHEMA, ledger.LEDGER)}"


def add_column_sql(table: SourceTable, name: str, type_: str) -> str:
    return f"ALTER TABLE {qualified(table.raw_schema, table.raw_table)} ADD COLUMN {quote_ident(name)} {type_}"


def create_stage_sql(stage: str, file: FileLoad) -> str:
    columns = ", ".join(f"{quote_ident(c.raw_name)} {c.file_type}" for c in file.columns)
    return f"CREATE TEMP TABLE {quote_ident(stage)} ({columns})"


def copy_options(fmt: FileFormat) -> list[str]:
    """The documented COPY options for each format (SOURCE_FORMATS.md, "Amazon Redshift COPY")."""
    if fmt.kind == "csv":
        options = ["FORMAT AS CSV"]
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


def _loaded_guard(file: FileLoad) -> str:
    return (f"NOT EXISTS (SELECT 1 FROM {qualified(ledger.SCHEMA, ledger.LEDGER)} "
            f"WHERE \"object_key\" = {literal(file.key)} AND \"etag\" = {literal(file.etag)} "
            f"AND \"status\" = 'loaded')")


def insert_raw_sql(table: SourceTable, stage: str, file: FileLoad, table_types: Mapping[str, str],
                   batch_id: str) -> str:
    targets = [quote_ident(c.raw_name) for c in file.columns]
    values = []
    for c in file.columns:
        raw_type = table_types.get(c.raw_name, c.file_type)
        expr = quote_ident(c.raw_name)
        if c.file_type != raw_type:  # Parquet's own types (e.g. double for a numeric(18,2) column)
            expr = f"CAST({expr} AS {raw_type})"
        values.append(expr)
    targets += [quote_ident(n) for n in ("_source_key", "_source_row", "_batch_id", "_loaded_at")]
    values += [literal(file.key), "CAST(NULL AS BIGINT)", literal(batch_id), "SYSDATE"]
    return (f"INSERT INTO {qualified(table.raw_schema, table.raw_table)} ({', '.join(targets)}) "
            f"SELECT {', '.join(values)} FROM {quote_ident(stage)} WHERE {_loaded_guard(file)}")


def _ledger_insert(values: Sequence[str], source: str, guard: str) -> str:
    columns = ", ".join(quote_ident(c) for c in ledger.LEDGER_INSERT_COLUMNS)
    return (f"INSERT INTO {qualified(ledger.SCHEMA, ledger.LEDGER)} ({columns}) "
            f"SELECT {', '.join(values)}{source} WHERE {guard}")


def insert_ledger_loaded_sql(table: SourceTable, stage: str, file: FileLoad, batch_id: str,
                             added: Sequence[str]) -> str:
    values = [literal(file.key), literal(file.etag), number(file.size), "'loaded'",
              literal(table.qualified_raw_name), "c.n", literal(batch_id), "NULL", "NULL",
              literal(",".join(added)) if added else "NULL", "SYSDATE"]
    source = f" FROM (SELECT COUNT(*) AS n FROM {quote_ident(stage)}) AS c"
    return _ledger_insert(values, source, _loaded_guard(file))


def insert_ledger_quarantined_sql(raw_table: str | None, key: str, etag: str, size: int, batch_id: str,
                                  reason: str, line: int | None) -> str:
    values = [literal(key), literal(etag), number(size), "'quarantined'", literal(raw_table), "NULL",
              literal(batch_id), literal(ledger.limit_text(reason)), number(line), "NULL", "SYSDATE"]
    guard = (f"NOT EXISTS (SELECT 1 FROM {qualified(ledger.SCHEMA, ledger.LEDGER)} "
             f"WHERE \"object_key\" = {literal(key)} AND \"etag\" = {literal(etag)} AND \"status\" = 'loaded')")
    return _ledger_insert(values, "", guard)


def insert_batch_sql(batch_id: str, raw_table: str | None, loader: str) -> str:
    ledger_table = qualified(ledger.SCHEMA, ledger.LEDGER)
    columns = ", ".join(quote_ident(c) for c, _, _ in ledger.BATCH_COLUMNS)
    return (f"INSERT INTO {qualified(ledger.SCHEMA, ledger.BATCHES)} ({columns}) "
            f"SELECT {literal(batch_id)}, {literal(raw_table)}, "
            f"SUM(CASE WHEN \"status\" = 'loaded' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN \"status\" = 'quarantined' THEN 1 ELSE 0 END), "
            f"COALESCE(SUM(\"rows_loaded\"), 0), SYSDATE, {literal(loader)} "
            f"FROM {ledger_table} WHERE \"batch_id\" = {literal(batch_id)} HAVING COUNT(*) > 0")


@dataclass(frozen=True)
class Statement:
    sql: str
    role: str  # lock | alter | stage | copy | insert | ledger | drop | quarantine | batch
    file_index: int | None = None


def batch_script(batch: Batch, table_types: Mapping[str, str], manifests: Mapping[int, str], iam_role: str,
                 loader: str, extra_quarantines: Sequence[tuple[FileLoad, str, int | None]] = ()) -> list[Statement]:
    """The statements of one batch transaction, each tagged with what it does and for which file."""
    statements = [Statement(lock_sql(), "lock")]
    table = batch.table
    known = dict(table_types)
    if table is not None:
        for f in batch.files:
            for name, type_ in f.added_columns:
                if name not in known:
                    statements.append(Statement(add_column_sql(table, name, type_), "alter"))
                    known[name] = type_
        for i, f in enumerate(batch.files):
            if not f.columns:  # a file without records (an empty AppFlow part): a ledger row only
                statements.append(Statement(_empty_file_ledger_sql(table, f, batch.batch_id), "ledger", i))
                continue
            stage = f"{STAGE}{i}"
            added = [n for n, _ in f.added_columns if n not in table_types]
            statements += [
                Statement(create_stage_sql(stage, f), "stage", i),
                Statement(copy_sql(stage, f, manifests[i], iam_role), "copy", i),
                Statement(insert_raw_sql(table, stage, f, known, batch.batch_id), "insert", i),
                Statement(insert_ledger_loaded_sql(table, stage, f, batch.batch_id, added), "ledger", i),
                Statement(f"DROP TABLE {quote_ident(stage)}", "drop", i),
            ]
    raw_table = table.qualified_raw_name if table else None
    for q in batch.quarantines:
        statements.append(Statement(insert_ledger_quarantined_sql(raw_table, q.key, q.etag, q.size, batch.batch_id,
                                                                  q.reason, q.line), "quarantine"))
    for f, reason, line in extra_quarantines:
        statements.append(Statement(insert_ledger_quarantined_sql(raw_table, f.key, f.etag, f.size, batch.batch_id,
                                                                  reason, line), "quarantine"))
    statements.append(Statement(insert_batch_sql(batch.batch_id, raw_table, loader), "batch"))
    return statements


def _empty_file_ledger_sql(table: SourceTable, f: FileLoad, batch_id: str) -> str:
    values = [literal(f.key), literal(f.etag), number(f.size), "'loaded'", literal(table.qualified_raw_name), "0",
              literal(batch_id), "NULL", "NULL", "NULL", "SYSDATE"]
    return _ledger_insert(values, "", _loaded_guard(f))


# ------------------------------------------------------------------------------------------ Data API
@dataclass
class StatementResult:
    id: str
    status: str
    error: str | None = None
    sub_statements: list[dict] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)

    def failed_index(self) -> int | None:
        for i, sub in enumerate(self.sub_statements):
            if sub.get("Status") == "FAILED":
                return i
        return None


class DataApi:
    """The Redshift Data API (boto3 `redshift-data`): submit, poll DescribeStatement, page the results."""

    def __init__(self, client, config: RedshiftConfig, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.config = config
        self.sleep = sleep

    def _call(self, operation: str, **params) -> dict:
        delay = 0.5
        for attempt in range(1, 7):
            try:
                return getattr(self.client, operation)(**params)
            except Exception as err:  # botocore ClientError and friends
                code = getattr(err, "response", {}).get("Error", {}).get("Code", "")
                if code not in _RETRYABLE_API_ERRORS or attempt == 6:
                    raise LoadFailure(f"Redshift Data API {operation} failed: {err}") from err
                log_event(log, "data_api_retry", logging.WARNING, operation=operation, code=code, attempt=attempt)
                self.sleep(delay)
                delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")

    def submit(self, sql: str, name: str, parameters: Mapping[str, str] | None = None) -> str:
        params: dict[str, Any] = {**self.config.target_params(), "Sql": sql, "StatementName": name[:500]}
        if parameters:
            params["Parameters"] = [{"name": k, "value": v} for k, v in parameters.items()]
        return self._call("execute_statement", **params)["Id"]

    def submit_batch(self, sqls: Sequence[str], name: str) -> str:
        params = {**self.config.target_params(), "Sqls": list(sqls), "StatementName": name[:500]}
        return self._call("batch_execute_statement", **params)["Id"]

    def wait(self, statement_id: str, timeout_s: float | None = None,
             on_poll: Callable[[dict, float], None] | None = None) -> StatementResult:
        timeout_s = timeout_s or self.config.statement_timeout_s
        started = time.monotonic()
        delay = min(0.25, self.config.poll_s)
        while True:
            described = self._call("describe_statement", Id=statement_id)
            status = described.get("Status", "")
            if status in TERMINAL:
                return StatementResult(statement_id, status, described.get("Error"),
                                       list(described.get("SubStatements") or []))
            elapsed = time.monotonic() - started
            if on_poll is not None:
                on_poll(described, elapsed)
            if elapsed > timeout_s:
                self.cancel(statement_id)
                raise LoadFailure(f"Redshift statement {statement_id} still {status} after {timeout_s:.0f} s; "
                                  "cancelled it")
            self.sleep(delay)
            delay = min(delay * 2, self.config.poll_s)

    def cancel(self, statement_id: str) -> None:
        try:
            self.client.cancel_statement(Id=statement_id)
        except Exception as err:  # noqa: BLE001 - best effort: it may have finished meanwhile
            log_event(log, "data_api_cancel_failed", logging.WARNING, statement=statement_id, error=str(err))

    def query(self, sql: str, name: str, parameters: Mapping[str, str] | None = None) -> list[tuple]:
        result = self.wait(self.submit(sql, name, parameters))
        if result.status != "FINISHED":
            raise LoadFailure(f"Redshift query {name} {result.status.lower()}: {result.error}")
        rows: list[tuple] = []
        token = None
        while True:
            params = {"Id": result.id, **({"NextToken": token} if token else {})}
            page = self._call("get_statement_result", **params)
            for record in page.get("Records", []):
                rows.append(tuple(_field_value(f) for f in record))
            token = page.get("NextToken")
            if not token:
                return rows


def _field_value(fld: dict) -> Any:
    if fld.get("isNull"):
        return None
    for key in ("stringValue", "longValue", "doubleValue", "booleanValue"):
        if key in fld:
            return fld[key]
    return None


# ------------------------------------------------------------------------------------------ warehouse
class RedshiftWarehouse(Warehouse):
    target = "redshift"

    def __init__(self, config: RedshiftConfig, data_api: DataApi, s3_client, *, lock_wait_s: float = 600.0):
        self.config = config
        self.api = data_api
        self.s3 = s3_client
        self.lock_wait_s = lock_wait_s
        self.loader_name = f"{socket.gethostname()} pid {os.getpid()} redshift"
        self._columns: dict[tuple[str, str], dict[str, str]] = {}

    @classmethod
    def from_config(cls, config: RedshiftConfig, *, lock_wait_s: float = 600.0) -> "RedshiftWarehouse":
        import boto3

        from loaders.landing import s3_client

        client = boto3.client("redshift-data", region_name=config.region) if config.region else \
            boto3.client("redshift-data")
        return cls(config, DataApi(client, config), s3_client(), lock_wait_s=lock_wait_s)

    def describe(self) -> str:
        return self.config.describe()

    # ------------------------------------------------------------------ setup and reads
    def _all_columns(self, schemas: Sequence[str]) -> dict[tuple[str, str], dict[str, str]]:
        in_list = ", ".join(literal(s) for s in sorted(set(schemas)))
        rows = self.api.query(
            "SELECT table_schema, table_name, column_name, data_type, character_maximum_length, "
            "numeric_precision, numeric_scale FROM svv_columns "
            f"WHERE table_schema IN ({in_list}) ORDER BY table_schema, table_name, ordinal_position",
            "unify-load columns")
        found: dict[tuple[str, str], dict[str, str]] = {}
        for schema, table, column, data_type, length, precision, scale in rows:
            found.setdefault((schema, table), {})[column] = _type_text(data_type, length, precision, scale)
        return found

    def setup(self, tables: Sequence[SourceTable]) -> None:
        existing = self._all_columns([ledger.SCHEMA, *{t.raw_schema for t in tables}])
        statements: list[str] = []
        if (ledger.SCHEMA, ledger.LEDGER) not in existing or (ledger.SCHEMA, ledger.BATCHES) not in existing:
            self._run_ddl(ledger_ddl(), "unify-load setup ledger")
        for schema in sorted({t.raw_schema for t in tables}):
            if not any(s == schema for s, _ in existing):
                statements.append(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        for table in tables:
            columns = existing.get((table.raw_schema, table.raw_table))
            if columns is None:
                statements.append(create_raw_table_sql(table))
                continue
            for name, type_, _ in raw_columns(table):
                if name not in columns:
                    statements.append(add_column_sql(table, name, type_))
        if statements:
            self._run_ddl([lock_sql(), *statements], "unify-load setup raw tables")
            log_event(log, "warehouse_setup", target=self.target, statements=len(statements))
        self._columns = {}
        self._ensure_keys([t for t in tables if (t.raw_schema, t.raw_table) in existing])

    def _ensure_keys(self, tables: Sequence[SourceTable]) -> None:
        """Existing raw tables get the DISTKEY and compound SORTKEY new ones are created with. An interleaved
        sort key is left alone (Redshift cannot turn it into a compound one in place) and reported."""
        if not tables:
            return
        found: dict[tuple[str, str], tuple[str | None, list[str], bool]] = {}
        for schema, name, column, is_dist, sort_order in self.api.query(
                table_keys_sql([t.raw_schema for t in tables]), "unify-load raw table keys"):
            dist, sort, interleaved = found.get((schema, name), (None, [], False))
            if is_dist:
                dist = column
            if sort_order and int(sort_order) > 0:
                sort.append(column)
            found[(schema, name)] = (dist, sort, interleaved or bool(sort_order and int(sort_order) < 0))
        for table in tables:
            dist, sort, interleaved = found.get((table.raw_schema, table.raw_table), (None, [], False))
            for statement in alter_keys_sql(table, dist, sort):
                if interleaved and "SORTKEY" in statement:
                    log_event(log, "raw_table_sort_key_kept", logging.WARNING, table=table.qualified_raw_name,
                              reason=f"interleaved sort key; recreate the table for SORTKEY ({SORT_KEY})")
                    continue
                result = self.api.wait(self.api.submit(statement, "unify-load raw table keys"))
                if result.status != "FINISHED":
                    raise LoadFailure(f"{statement} {result.status.lower()} in {self.describe()}: {result.error}")
                log_event(log, "raw_table_keys_changed", table=table.qualified_raw_name, statement=statement)

    def _run_ddl(self, sqls: list[str], name: str) -> None:
        result = self.api.wait(self.api.submit_batch(sqls, name))
        if result.status != "FINISHED":
            raise LoadFailure(f"{name} {result.status.lower()} in {self.describe()}: {result.error}")

    def table_columns(self, table: SourceTable) -> dict[str, str]:
        key = (table.raw_schema, table.raw_table)
        if key not in self._columns:
            rows = self.api.query(
                "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale "
                "FROM svv_columns WHERE table_schema = :schema AND table_name = :table ORDER BY ordinal_position",
                "unify-load table columns", {"schema": table.raw_schema, "table": table.raw_table})
            self._columns[key] = {r[0]: _type_text(*r[1:]) for r in rows}
        return dict(self._columns[key])

    def ledger_entries(self, keys: Sequence[str]) -> dict[str, list[LedgerEntry]]:
        found: dict[str, list[LedgerEntry]] = {}
        if not keys:
            return found
        exists = self.api.query(
            "SELECT COUNT(*) FROM svv_tables WHERE table_schema = :schema AND table_name = :table",
            "unify-load ledger exists", {"schema": ledger.SCHEMA, "table": ledger.LEDGER})
        if not exists or not exists[0][0]:
            return found
        for start in range(0, len(keys), 500):
            in_list = ", ".join(literal(k) for k in keys[start:start + 500])
            rows = self.api.query(
                f"SELECT object_key, etag, status, batch_id, reason FROM {qualified(ledger.SCHEMA, ledger.LEDGER)} "
                f"WHERE object_key IN ({in_list}) ORDER BY recorded_at, batch_id", "unify-load ledger")
            for key, etag, status, batch_id, reason in rows:
                found.setdefault(key, []).append(LedgerEntry(key, etag, status, batch_id, reason))
        return found

    # ------------------------------------------------------------------ loading
    def load_batch(self, batch: Batch, checkpoint: Checkpoint = _noop, on_file: OnFile = _noop) -> list[FileOutcome]:
        table = batch.table
        table_types = self.table_columns(table) if table else {}
        manifests = self._write_manifests(batch)
        rejected: list[tuple[FileLoad, str, int | None]] = []
        files = list(batch.files)
        for _attempt in range(len(batch.files) + 2):
            current = Batch(batch.batch_id, table, tuple(files), batch.quarantines)
            script = batch_script(current, table_types, {i: manifests[f.key] for i, f in enumerate(files)},
                                  self.config.iam_role, self.loader_name, rejected)
            self._announce_lock_holder(batch.batch_id)
            checkpoint("before_copy")
            statement_id = self.api.submit_batch([s.sql for s in script], f"unify-load {batch.batch_id}")
            log_event(log, "batch_submitted", batch_id=batch.batch_id, statement=statement_id,
                      statements=len(script), files=len(files))
            checkpoint("after_copy")  # the transaction now runs server-side: a dying client changes nothing
            result = self.api.wait(statement_id, on_poll=self._lock_watch(statement_id, batch.batch_id))
            if result.status == "FINISHED":
                break
            failed = result.failed_index()
            statement = script[failed] if failed is not None and failed < len(script) else None
            if not _rejects_the_file(statement, result):
                raise LoadFailure(f"batch {batch.batch_id} {result.status.lower()} in {self.describe()}: "
                                  f"{result.error}")
            assert statement is not None and statement.file_index is not None
            bad = files[statement.file_index]
            reason, line = self._rejection(bad, statement, result)
            log_event(log, "file_quarantined", logging.WARNING, batch_id=batch.batch_id, key=bad.key,
                      table=table.qualified_raw_name if table else None, reason=reason, line=line)
            rejected.append((bad, reason, line))
            files.pop(statement.file_index)
        else:
            raise LoadFailure(f"batch {batch.batch_id}: gave up after {len(batch.files) + 2} attempts")
        if table is not None:
            self._columns.pop((table.raw_schema, table.raw_table), None)  # drift may have added columns
        checkpoint("after_commit")
        outcomes = self._outcomes(batch)
        for outcome in outcomes:
            on_file(outcome)
        return outcomes

    def _write_manifests(self, batch: Batch) -> dict[str, str]:
        urls = {}
        for i, f in enumerate(batch.files):
            if not f.columns:
                continue
            if not f.uri.startswith("s3://"):
                raise LoadFailure(f"{f.key}: Redshift loads from S3 only; the landing zone must be s3:// "
                                  f"(found {f.uri})")
            url = manifest_url(self.config.manifest_prefix, batch.batch_id, f"{i:05d}")
            length = f.size if f.file_format.kind == "parquet" else None
            write_manifest(self.s3, url, [ManifestEntry(f.uri, length)])
            urls[f.key] = url
        return urls

    def _rejection(self, bad: FileLoad, statement: Statement, result: StatementResult) -> tuple[str, int | None]:
        """Why the warehouse rejected a file: SYS_LOAD_ERROR_DETAIL for a COPY, the error text otherwise."""
        sub_error = ""
        if result.sub_statements and result.failed_index() is not None:
            sub_error = result.sub_statements[result.failed_index()].get("Error") or ""
        error = sub_error or result.error or "unknown error"
        if statement.role != "copy":
            return clean_text(f"rejected by the warehouse: {error}"), None
        details = self.api.query(
            "SELECT TRIM(file_name), line_number, TRIM(column_name), TRIM(error_message), TRIM(raw_field_value) "
            "FROM sys_load_error_detail WHERE TRIM(file_name) = :url ORDER BY start_time DESC LIMIT 5",
            "unify-load load errors", {"url": bad.uri})
        if not details:
            # No row-level load error: S3 access, the IAM role, a manifest... not the file's data.
            raise LoadFailure(f"COPY of {bad.key} failed without a load error for the file (not a data problem): "
                              f"{error}")
        _file, line, column, message, value = details[0]
        where = f" in column {column}" if column else ""
        shown = f" (value {value!r})" if value not in (None, "") else ""
        return prefer_diagnosis(bad, clean_text(f"rejected by COPY{where}: {message}{shown}"),
                                int(line) if line is not None else None)

    def _announce_lock_holder(self, batch_id: str) -> None:
        try:
            rows = self.api.query(
                "SELECT pid, txn_owner, txn_start FROM svv_transactions WHERE granted "
                "AND lock_mode = 'AccessExclusiveLock' AND relation = (SELECT c.oid FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relname = :table)",
                "unify-load lock holder", {"schema": ledger.SCHEMA, "table": ledger.LEDGER})
        except LoadFailure:
            return  # only for the message
        if rows:
            pid, owner, started = rows[0]
            log_event(log, "load_lock_wait", logging.WARNING, batch_id=batch_id,
                      holder=f"pid {pid} user {owner} since {started}", wait_limit_s=self.lock_wait_s)

    def _lock_watch(self, statement_id: str, batch_id: str) -> Callable[[dict, float], None]:
        def watch(described: dict, elapsed: float) -> None:
            subs = described.get("SubStatements") or []
            waiting_for_lock = bool(subs) and subs[0].get("Status") in ("SUBMITTED", "PICKED", "STARTED")
            if waiting_for_lock and elapsed > self.lock_wait_s:
                self.api.cancel(statement_id)
                raise LockTimeout(f"gave up waiting for the load lock after {self.lock_wait_s:.0f} s "
                                  f"(LOCK {ledger.SCHEMA}.{ledger.LEDGER} held by another loader); batch {batch_id} "
                                  "was cancelled and loaded nothing. Run again once it has finished.")
        return watch

    def _outcomes(self, batch: Batch) -> list[FileOutcome]:
        rows = self.api.query(
            f"SELECT object_key, etag, size_bytes, status, rows_loaded, reason, error_line, columns_added "
            f"FROM {qualified(ledger.SCHEMA, ledger.LEDGER)} WHERE batch_id = :batch", "unify-load outcomes",
            {"batch": batch.batch_id})
        raw_table = batch.table.qualified_raw_name if batch.table else None
        recorded = {(r[0], r[1]): r for r in rows}
        outcomes = []
        for key, etag, size in [(f.key, f.etag, f.size) for f in batch.files] + \
                [(q.key, q.etag, q.size) for q in batch.quarantines]:
            row = recorded.get((key, etag))
            if row is None:
                outcomes.append(FileOutcome(key, etag, size, raw_table, SKIPPED, "another loader"))
                continue
            _k, _e, _s, status, n, reason, line, added = row
            outcomes.append(FileOutcome(key, etag, size, raw_table, status, batch.batch_id,
                                        rows=int(n or 0) if status == LOADED else 0, reason=reason,
                                        line=int(line) if line is not None else None,
                                        added_columns=tuple(a for a in (added or "").split(",") if a)))
        return outcomes


# Redshift's words for a value its column cannot take (the Data API reports no SQLSTATE, only text).
_DATA_ERRORS = ("invalid digit", "invalid input syntax", "overflow", "value too long", "out of range",
                "not-null", "null value", "invalid timestamp", "invalid date", "cannot be cast", "invalid format")


def _rejects_the_file(statement: Statement | None, result: StatementResult) -> bool:
    """True when the failure is the data of one file: a COPY of it (confirmed by SYS_LOAD_ERROR_DETAIL
    later) or the INSERT of its staged rows failing on a value. Anything else fails the run."""
    if statement is None or statement.file_index is None:
        return False
    if statement.role == "copy":
        return True
    if statement.role == "insert":
        index = result.failed_index()
        text = ((result.sub_statements[index].get("Error") if index is not None else None) or result.error or "")
        return any(word in text.lower() for word in _DATA_ERRORS)
    return False


def _type_text(data_type: str, length, precision, scale) -> str:
    t = (data_type or "").lower()
    if t == "character varying" and length:
        return f"varchar({int(length)})"
    if t == "character" and length:
        return f"char({int(length)})"
    if t == "numeric" and precision is not None:
        return f"numeric({int(precision)},{int(scale or 0)})"
    return t
