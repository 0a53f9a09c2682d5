"""The production target: Amazon Redshift, loaded with `COPY ... FROM 's3://...manifest' MANIFEST` through
the Redshift Data API (boto3 `redshift-data`: no driver, no VPC connection to manage in a Lambda).

Two paths (the SQL of both: redshift_sql.py and redshift_bulk.py):

- **per event** (the Lambda: one file, or a few): each file is COPYed from its own one-entry manifest into
  a temp stage and INSERTed into the raw table with its key; the batch transaction fits the Data API's 40
  statements per BatchExecuteStatement, so a larger batch runs as several transactions (batch ids
  `<batch>`, `<batch>-2`, ...);
- **bulk** (a backfill, a catch-up: UNIFY_REDSHIFT_BULK_FILES or more same-shaped files in a batch): one
  COPY of Parquet parts the loader writes with the key and record number in them (redshift_bulk.py).

Exactly once without a driver session: every row a batch writes is guarded by `NOT EXISTS (ledger row
'loaded' for these bytes)`, evaluated after `LOCK`, so if two loaders race for the same object the second
inserts nothing; a client that dies after submitting leaves a transaction that commits or rolls back on
its own, which a rerun sees in the ledger. A COPY that fails is looked up in SYS_LOAD_ERROR_DETAIL (file,
line, column, error code; its raw value and message are never read into a reason) by the file's URL: a
value that does not fit a column whose type may widen (loaders/evolution.py) has the file profiled in the
warehouse and the column widened (a longer varchar: ALTER before the batch; anything else: a deep copy
in it), any other load error quarantines the file, and the batch re-runs without it. An INSERT that fails
on a value quarantines its file too; a file that vanished is left for the next run. Any other failure (S3
access, the IAM role, grants) fails the run instead of quarantining data.

The Data API client retries throttling and transient errors itself (botocore's standard retry mode, as the
S3 and SNS clients do); only the wait for a statement to finish is a poll loop (DescribeStatement).
`ActiveStatementsExceededException` / `ActiveSessionsExceededException` (the account's quotas, HTTP 400)
are not retryable for botocore: they fail the run, and the next event or cycle loads what is missing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from loaders import evolution, ledger
from loaders.errors import LoadFailure, LockTimeout
from loaders.landing import LandingError, LandingNotFound
from loaders.logs import log_event
from loaders.manifest import ManifestEntry, manifest_url, split_s3_url, write_manifest
from loaders.records import (DEFERRED, LOADED, QUARANTINED, SKIPPED, Batch, FileLoad, FileOutcome, LedgerEntry)
from loaders.source_tables import SourceTable
from loaders.warehouse import redshift_bulk
from loaders.warehouse.base import (OP_REASON, Checkpoint, OnFile, Warehouse, _noop, prefer_diagnosis, raw_columns,
                                    reason_for)
from loaders.warehouse.redshift_sql import (MAX_STATEMENTS, SORT_KEY, Decision, Statement, add_column_sql,
                                            alter_keys_sql, alter_varchar_sql, batch_script, build_marks_sql,
                                            create_raw_table_sql, newest_batches_sql, record_build_marks_sql,
                                            deep_copy_sql, is_varchar_growth, ledger_ddl, ledger_migrations, literal,
                                            lock_sql, profile_script, qualified, quote_ident, statements_per_file,
                                            table_keys_sql)

log = logging.getLogger("loaders.warehouse.redshift")

TERMINAL = ("FINISHED", "FAILED", "ABORTED")


# ------------------------------------------------------------------------------------------ config
@dataclass(frozen=True)
class RedshiftConfig:
    """Where and as whom to load; read from the same variables as profiles.yml.example, plus the loader's."""

    database: str
    iam_role: str  # the role COPY assumes to read S3 (IAM_ROLE)
    manifest_prefix: str  # s3://bucket/prefix where manifests (and bulk parts) are written
    workgroup: str | None = None  # Serverless
    cluster_id: str | None = None  # provisioned
    secret_arn: str | None = None
    db_user: str | None = None  # provisioned, temporary credentials
    region: str | None = None
    poll_s: float = 1.0
    statement_timeout_s: float = 3600.0
    bulk_files: int = 8  # UNIFY_REDSHIFT_BULK_FILES: same-shaped files of a batch that take the bulk path (0: never)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "RedshiftConfig":
        """REDSHIFT_WORKGROUP | REDSHIFT_CLUSTER_ID (+ UNIFY_REDSHIFT_SECRET_ARN or REDSHIFT_DB_USER),
        REDSHIFT_DATABASE (unify), UNIFY_REDSHIFT_COPY_ROLE_ARN, UNIFY_REDSHIFT_MANIFEST_PREFIX
        (default: s3://<landing bucket>/_unify/manifests when UNIFY_LANDING is on S3), AWS_REGION,
        UNIFY_REDSHIFT_BULK_FILES."""
        manifest = env.get("UNIFY_REDSHIFT_MANIFEST_PREFIX", "").strip()
        landing = env.get("UNIFY_LANDING", "")
        if not manifest and landing.startswith("s3://"):
            bucket = landing[5:].split("/", 1)[0]
            manifest = f"s3://{bucket}/_unify/manifests"
        bulk = env.get("UNIFY_REDSHIFT_BULK_FILES", "").strip()
        if bulk and not bulk.isdigit():
            raise LoadFailure(f"UNIFY_REDSHIFT_BULK_FILES must be a whole number (0: never), not {bulk!r}")
        config = cls(
            database=env.get("REDSHIFT_DATABASE") or "unify",
            iam_role=env.get("UNIFY_REDSHIFT_COPY_ROLE_ARN", "").strip(),
            manifest_prefix=manifest,
            workgroup=env.get("REDSHIFT_WORKGROUP") or None,
            cluster_id=env.get("REDSHIFT_CLUSTER_ID") or None,
            secret_arn=env.get("UNIFY_REDSHIFT_SECRET_ARN") or None,
            db_user=env.get("REDSHIFT_DB_USER") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            bulk_files=int(bulk) if bulk else cls.bulk_files,
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

    def failed_error(self) -> str:
        index = self.failed_index()
        sub = self.sub_statements[index].get("Error") if index is not None else None
        return sub or self.error or "unknown error"


def data_api_client(region: str | None = None):
    """A boto3 `redshift-data` client whose throttling and transient errors botocore retries with bounded
    exponential backoff (standard mode), as the S3 client does (loaders/landing.py `s3_client`)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 6, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    return boto3.client("redshift-data", region_name=region, config=config) if region else \
        boto3.client("redshift-data", config=config)


class DataApi:
    """The Redshift Data API (boto3 `redshift-data`): submit, poll DescribeStatement, page the results.
    Retries are the client's (data_api_client); an error that reaches here fails the run."""

    def __init__(self, client, config: RedshiftConfig, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.config = config
        self.sleep = sleep

    def _call(self, operation: str, **params) -> dict:
        try:
            return getattr(self.client, operation)(**params)
        except Exception as err:  # botocore ClientError and friends, after botocore's own retries
            raise LoadFailure(f"Redshift Data API {operation} failed: {err}") from err

    def submit(self, sql: str, name: str, parameters: Mapping[str, str] | None = None) -> str:
        params: dict[str, Any] = {**self.config.target_params(), "Sql": sql, "StatementName": name[:500]}
        if parameters:
            params["Parameters"] = [{"name": k, "value": v} for k, v in parameters.items()]
        return self._call("execute_statement", **params)["Id"]

    def submit_batch(self, sqls: Sequence[str], name: str) -> str:
        if not 1 <= len(sqls) <= MAX_STATEMENTS:
            raise LoadFailure(f"a Redshift batch holds 1 to {MAX_STATEMENTS} statements, not {len(sqls)}")
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

    def results(self, statement_id: str) -> list[tuple]:
        """Every row of a finished statement's result (a batch's sub-statement: `<id>:<n>`, 1-based)."""
        rows: list[tuple] = []
        token = None
        while True:
            params = {"Id": statement_id, **({"NextToken": token} if token else {})}
            page = self._call("get_statement_result", **params)
            for record in page.get("Records", []):
                rows.append(tuple(_field_value(f) for f in record))
            token = page.get("NextToken")
            if not token:
                return rows

    def query(self, sql: str, name: str, parameters: Mapping[str, str] | None = None) -> list[tuple]:
        result = self.wait(self.submit(sql, name, parameters))
        if result.status != "FINISHED":
            raise LoadFailure(f"Redshift query {name} {result.status.lower()}: {result.error}")
        return self.results(result.id)


def _timestamp(text: str | None) -> datetime | None:
    """A TIMESTAMP as the Data API returns it ('2026-12-06 18:00:00.123456', fractional part optional)."""
    return None if text is None else datetime.fromisoformat(text)


def _field_value(fld: dict) -> Any:
    if fld.get("isNull"):
        return None
    for key in ("stringValue", "longValue", "doubleValue", "booleanValue"):
        if key in fld:
            return fld[key]
    return None


# ------------------------------------------------------------------------------------------ warehouse
class _Rejected(Exception):
    """A transaction failed on one file's data: quarantine it (reason, line) or, with `widen`, widen columns."""

    def __init__(self, index: int, reason: str, line: int | None, widen: list[tuple[str, str, str]] | None = None,
                 vanished: bool = False):
        super().__init__(reason)
        self.index, self.reason, self.line, self.widen, self.vanished = index, reason, line, widen, vanished


class RedshiftWarehouse(Warehouse):
    target = "redshift"

    def __init__(self, config: RedshiftConfig, data_api: DataApi, s3_client, *, lock_wait_s: float = 600.0):
        self.config = config
        self.api = data_api
        self.s3 = s3_client
        self.lock_wait_s = lock_wait_s
        self.loader_name = f"{socket.gethostname()} pid {os.getpid()} redshift"
        self._columns: dict[tuple[str, str], dict[str, str]] = {}
        self._tables: set[str] | None = None  # the ledger schema's tables (_ledger_tables)

    @classmethod
    def from_config(cls, config: RedshiftConfig, *, lock_wait_s: float = 600.0) -> "RedshiftWarehouse":
        from loaders.landing import s3_client

        return cls(config, DataApi(data_api_client(config.region), config), s3_client(), lock_wait_s=lock_wait_s)

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
        statements: list[str | list[str]] = []  # a list: statements that must share one transaction
        if (ledger.SCHEMA, ledger.LEDGER) not in existing or (ledger.SCHEMA, ledger.BATCHES) not in existing:
            self._run_ddl(ledger_ddl(), "unify-load setup ledger")
        else:
            statements += ledger_migrations(existing[(ledger.SCHEMA, ledger.LEDGER)])
        for schema in sorted({t.raw_schema for t in tables}):
            if not any(s == schema for s, _ in existing):
                statements.append(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        varchar: list[str] = []
        for table in tables:
            columns = existing.get((table.raw_schema, table.raw_table))
            if columns is None:
                statements.append(create_raw_table_sql(table))
                continue
            widen = {}
            for name, type_, _ in raw_columns(table):
                if name not in columns:
                    statements.append(add_column_sql(table, name, type_))
                elif not evolution.same_type(columns[name], type_) and evolution.holds(type_, columns[name]):
                    widen[name] = type_  # the contract widened it (TMS ids: text)
            for name, type_ in widen.items():
                log_event(log, "raw_column_widened", table=table.qualified_raw_name, column=name,
                          change=evolution.describe(name, columns[name], type_), reason="contract")
            if widen and all(is_varchar_growth(columns[n], t) for n, t in widen.items()):
                varchar += [alter_varchar_sql(table, n, t) for n, t in widen.items()]
            elif widen:
                statements.append(deep_copy_sql(table, columns, widen))
        for statement in varchar:  # not in a transaction block: each on its own
            self._run_one(statement, "unify-load setup widen")
        chunk: list[str] = []
        for group in [g if isinstance(g, list) else [g] for g in statements]:
            if len(chunk) + len(group) > MAX_STATEMENTS - 1:  # each transaction starts with the LOCK
                self._run_ddl([lock_sql(), *chunk], "unify-load setup raw tables")
                chunk = []
            chunk += group
        if chunk:
            self._run_ddl([lock_sql(), *chunk], "unify-load setup raw tables")
        if statements:
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
                self._run_one(statement, "unify-load raw table keys")
                log_event(log, "raw_table_keys_changed", table=table.qualified_raw_name, statement=statement)

    def _run_one(self, statement: str, name: str) -> None:
        result = self.api.wait(self.api.submit(statement, name))
        if result.status != "FINISHED":
            raise LoadFailure(f"{statement} {result.status.lower()} in {self.describe()}: {result.error}")

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
        columns = {r[0] for r in self.api.query(
            "SELECT column_name FROM svv_columns WHERE table_schema = :schema AND table_name = :table",
            "unify-load ledger exists", {"schema": ledger.SCHEMA, "table": ledger.LEDGER})}
        if not columns:
            return found
        checksum = "content_checksum" if "content_checksum" in columns else "NULL"
        for start in range(0, len(keys), 500):
            in_list = ", ".join(literal(k) for k in keys[start:start + 500])
            rows = self.api.query(
                f"SELECT object_key, etag, status, batch_id, reason, {checksum} "
                f"FROM {qualified(ledger.SCHEMA, ledger.LEDGER)} "
                f"WHERE object_key IN ({in_list}) ORDER BY recorded_at, batch_id", "unify-load ledger")
            for key, etag, status, batch_id, reason, content in rows:
                found.setdefault(key, []).append(LedgerEntry(key, etag, status, batch_id, reason, content))
        return found

    # ------------------------------------------------------------------ the cycle's build marks
    def _ledger_tables(self) -> set[str]:
        """The tables of the ledger's schema, read once per instance (the cycle opens one per read; each
        Data API statement is a round trip)."""
        if self._tables is None:
            self._tables = {r[0] for r in self.api.query(
                "SELECT table_name FROM svv_tables WHERE table_schema = :schema", "unify-cycle ledger tables",
                {"schema": ledger.SCHEMA})}
        return self._tables

    def newest_batches(self) -> dict[str, datetime]:
        if ledger.BATCHES not in self._ledger_tables():
            return {}
        return {raw_table: _timestamp(at) for raw_table, at in self.api.query(newest_batches_sql(),
                                                                              "unify-cycle newest batches")}

    def build_marks(self, dbt_schema: str) -> dict[str, datetime]:
        if ledger.BUILD_MARKS not in self._ledger_tables():
            return {}
        return {raw_table: _timestamp(at) for raw_table, at in self.api.query(build_marks_sql(dbt_schema),
                                                                              "unify-cycle build marks")}

    def record_build_marks(self, dbt_schema: str, marks: Mapping[str, datetime]) -> None:
        if marks:
            self._run_ddl(record_build_marks_sql(dbt_schema, {k: v.isoformat(sep=" ") for k, v in marks.items()}),
                          "unify-cycle record build marks")
            self._tables = None  # it may have created the marks table

    # ------------------------------------------------------------------ loading
    def load_batch(self, batch: Batch, checkpoint: Checkpoint = _noop, on_file: OnFile = _noop) -> list[FileOutcome]:
        raw_table = batch.table.qualified_raw_name if batch.table else None
        files: list[FileLoad] = []
        outcomes: list[FileOutcome] = []
        for f in batch.files:  # the ledger and the guards need every file's content identity
            try:
                files.append(f if f.checksum or f.resolve_checksum is None else
                             dataclasses.replace(f, checksum=f.resolve_checksum()))
            except LandingNotFound:
                outcomes.append(FileOutcome(f.key, f.etag, f.size, raw_table, DEFERRED, batch.batch_id,
                                            reason="disappeared before it could be loaded"))
        decisions = [Decision(q.key, q.etag, q.size, q.status, q.reason, q.line, q.checksum, q.known_batches)
                     for q in batch.quarantines]
        deferred, outcomes = outcomes, []
        loaded_files = [f for f in files if f.columns]
        if batch.table is not None and 0 < self.config.bulk_files <= len(loaded_files) \
                and redshift_bulk.same_shape(loaded_files) and len(loaded_files) == len(files):
            try:
                outcomes = self._bulk(batch, files, decisions, checkpoint)
            except _BulkFellBack as fell:
                log_event(log, "bulk_fell_back", logging.WARNING, batch_id=batch.batch_id, reason=fell.reason,
                          files=len(files))
                outcomes = []
        if not outcomes:
            # as many files per transaction as the statement budget allows; a group whose script outgrows
            # it (added columns, a widening's deep copy) is split in two and each half tried in turn
            per_transaction = max(1, (MAX_STATEMENTS - 6) // statements_per_file(batch.table))
            groups = [files[start:start + per_transaction] for start in range(0, max(len(files), 1), per_transaction)]
            n = 0
            while groups:
                group = groups.pop(0)
                batch_id = batch.batch_id if n == 0 else f"{batch.batch_id}-{n + 1}"
                try:
                    outcomes += self._direct(batch.table, batch_id, group, decisions if n == 0 else [], checkpoint)
                except _TooManyStatements:
                    groups[:0] = [group[:len(group) // 2], group[len(group) // 2:]]
                    continue
                n += 1
        outcomes += deferred
        for outcome in outcomes:
            on_file(outcome)
        return outcomes

    def _bulk(self, batch: Batch, files: list[FileLoad], decisions: list[Decision],
              checkpoint: Checkpoint) -> list[FileOutcome]:
        table = batch.table
        assert table is not None
        table_types = self.table_columns(table)
        upload = redshift_bulk.upload_parts(self.s3, self.config.manifest_prefix, batch.batch_id, files)
        script = redshift_bulk.bulk_script(batch.batch_id, table, files, table_types, upload, self.config.iam_role,
                                           self.loader_name, decisions)
        result = self._submit(script, batch.batch_id, len(files), checkpoint)
        if result.status != "FINISHED":
            statement = _failed_statement(script, result)
            if statement is None or statement.role not in ("copy", "check", "insert"):
                raise LoadFailure(f"batch {batch.batch_id} {result.status.lower()} in {self.describe()}: "
                                  f"{result.failed_error()}")
            raise _BulkFellBack(f"the bulk {statement.role} failed; loading the files one COPY each")
        self._columns.pop((table.raw_schema, table.raw_table), None)
        checkpoint("after_commit")
        return self._outcomes(batch.batch_id, table, files, decisions)

    def _direct(self, table: SourceTable | None, batch_id: str, files: list[FileLoad], decisions: list[Decision],
                checkpoint: Checkpoint) -> list[FileOutcome]:
        """One per-event transaction (at most MAX_STATEMENTS statements): re-run without each file the
        warehouse rejects (quarantined), after widening what a file needs, until it commits."""
        table_types = self.table_columns(table) if table else {}
        manifests = self._write_manifests(batch_id, files)
        deferred: list[FileOutcome] = []
        deep: dict[str, str] = {}
        widened: dict[str, list[str]] = {}
        decisions = list(decisions)
        files = list(files)
        for _attempt in range(2 * len(files) + 2):
            script = batch_script(batch_id, table, files, table_types, {i: manifests[f.key] for i, f in enumerate(files)
                                                                          if f.key in manifests},
                                  self.config.iam_role, self.loader_name, decisions, deep, widened)
            if len(script) > MAX_STATEMENTS and len(files) > 1:
                raise _TooManyStatements(len(script))
            result = self._submit(script, batch_id, len(files), checkpoint)
            if result.status == "FINISHED":
                break
            try:
                self._explain(script, result, files, table, table_types, manifests)
            except _Rejected as rejected:
                bad = files[rejected.index]
                raw_table = table.qualified_raw_name if table else None
                if rejected.vanished:
                    files.pop(rejected.index)
                    deferred.append(FileOutcome(bad.key, bad.etag, bad.size, raw_table, DEFERRED, batch_id,
                                                reason=rejected.reason))
                    log_event(log, "file_deferred", logging.WARNING, batch_id=batch_id, key=bad.key, reason=rejected.reason)
                elif rejected.widen:
                    assert table is not None
                    for name, old, new in rejected.widen:
                        if is_varchar_growth(old, new):  # in place, outside the transaction
                            self._run_one(alter_varchar_sql(table, name, new), f"unify-load {batch_id} widen")
                            table_types[name] = new
                        else:
                            deep[name] = new
                        widened.setdefault(bad.key, []).append(evolution.describe(name, old, new))
                        log_event(log, "schema_drift_column_widened", batch_id=batch_id, table=raw_table,
                                  column=name, type=new, previous_type=old, key=bad.key)
                else:
                    files.pop(rejected.index)
                    decisions.append(Decision(bad.key, bad.etag or bad.checksum, bad.size, QUARANTINED, rejected.reason,
                                              rejected.line, bad.checksum, bad.known_batches))
                    log_event(log, "file_quarantined", logging.WARNING, batch_id=batch_id, key=bad.key,
                              table=raw_table, reason=rejected.reason, line=rejected.line)
        else:
            raise LoadFailure(f"batch {batch_id}: gave up after {2 * len(files) + 2} attempts")
        if table is not None:
            self._columns.pop((table.raw_schema, table.raw_table), None)  # drift may have changed columns
        checkpoint("after_commit")
        return self._outcomes(batch_id, table, files, decisions) + deferred

    def _submit(self, script: list[Statement], batch_id: str, files: int, checkpoint: Checkpoint) -> StatementResult:
        self._announce_lock_holder(batch_id)
        checkpoint("before_copy")
        statement_id = self.api.submit_batch([s.sql for s in script], f"unify-load {batch_id}")
        log_event(log, "batch_submitted", batch_id=batch_id, statement=statement_id, statements=len(script),
                  files=files)
        checkpoint("after_copy")  # the transaction now runs server-side: a dying client changes nothing
        return self.api.wait(statement_id, on_poll=self._lock_watch(statement_id, batch_id))

    def _write_manifests(self, batch_id: str, files: Sequence[FileLoad]) -> dict[str, str]:
        urls = {}
        for i, f in enumerate(files):
            if not f.columns:
                continue
            if not f.uri.startswith("s3://"):
                raise LoadFailure(f"{f.key}: Redshift loads from S3 only; the landing zone must be s3:// "
                                  f"(found {f.uri})")
            url = manifest_url(self.config.manifest_prefix, batch_id, f"{i:05d}")
            length = f.size if f.file_format.kind == "parquet" else None
            write_manifest(self.s3, url, [ManifestEntry(f.uri, length)])
            urls[f.key] = url
        return urls

    def _explain(self, script: list[Statement], result: StatementResult, files: list[FileLoad],
                 table: SourceTable | None, table_types: dict[str, str], manifests: Mapping[str, str]) -> None:
        """Why a per-event transaction failed: raise _Rejected for one file's data (or its disappearance),
        LoadFailure for anything else."""
        statement = _failed_statement(script, result)
        error = result.failed_error()
        if statement is None or statement.file_index is None:
            raise LoadFailure(f"batch failed in {self.describe()}: {result.status.lower()}: {error}")
        index = statement.file_index
        bad = files[index]
        if statement.role == "check":
            raise _Rejected(index, OP_REASON, None)
        if statement.role == "insert" and _value_error(error):
            raise _Rejected(index, reason_for(_kind_of_text(error)), None)
        if statement.role != "copy":
            raise LoadFailure(f"batch failed in {self.describe()}: {result.status.lower()}: {error}")
        details = self.api.query(
            "SELECT TRIM(file_name), line_number, TRIM(column_name), error_code, TRIM(error_message) "
            "FROM sys_load_error_detail WHERE TRIM(file_name) = :url ORDER BY start_time DESC LIMIT 5",
            "unify-load load errors", {"url": bad.uri})
        if not details:  # no row-level load error: the object vanished, or S3 access, the IAM role, a manifest
            if self._gone(bad):
                raise _Rejected(index, "disappeared before it could be loaded", None, vanished=True)
            raise LoadFailure(f"COPY of {bad.key} failed without a load error for the file (not a data problem): "
                              f"{error}")
        _file, line, column, code, message = details[0]
        column = column if column in table_types else None
        kind = _kind_of_load_error(code, message)
        if column and column in bad.widenable and kind in ("invalid", "range", "length") and table is not None:
            widen = self._needed_widenings(bad, manifests[bad.key], table_types)
            if widen:
                raise _Rejected(index, "widen", None, widen=widen)
        reason = reason_for(kind, column, table_types.get(column or ""))
        raise _Rejected(index, *prefer_diagnosis(bad, reason, int(line) if line is not None else None))

    def _needed_widenings(self, f: FileLoad, manifest: str, table_types: Mapping[str, str]
                          ) -> list[tuple[str, str, str]] | None:
        """Profile the file in the warehouse (a temp table of text columns; nothing written) and return the
        widenings its widenable columns need; None when a value fits no type of the ladder."""
        targets = [c.raw_name for c in f.columns if c.raw_name in f.widenable and c.raw_name in table_types]
        if not targets or f.file_format.kind == "parquet":
            return None
        query = evolution.profile_sql(quote_ident("unify_profile"), targets, quote_ident, literal,
                                      length_chars="CHAR_LENGTH", length_bytes="OCTET_LENGTH")
        result = self.api.wait(self.api.submit_batch(profile_script(f, manifest, self.config.iam_role, query),
                                                     "unify-load profile"))
        if result.status != "FINISHED":
            return None
        rows = self.api.results(f"{result.id}:3")
        if not rows:
            return None
        profiles = evolution.read_profile(rows[0], targets)
        widen = []
        for name in targets:
            new = evolution.widened_type(table_types[name], profiles[name], length_in_bytes=True)
            if new is None:
                return None
            if not evolution.same_type(new, table_types[name]):
                widen.append((name, table_types[name], new))
        return widen or None

    def _gone(self, f: FileLoad) -> bool:
        bucket, key = split_s3_url(f.uri)
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            return False
        except Exception as err:  # noqa: BLE001
            code = str(getattr(err, "response", {}).get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return True
            raise LandingError(f"{f.key}: cannot read its metadata: {err}") from err

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
            since = f" since {started}" if started is not None else ""
            log_event(log, "load_lock_wait", logging.WARNING, batch_id=batch_id,
                      holder=f"pid {pid} user {owner}{since}", wait_limit_s=self.lock_wait_s)

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

    def _outcomes(self, batch_id: str, table: SourceTable | None, files: Sequence[FileLoad],
                  decisions: Sequence[Decision]) -> list[FileOutcome]:
        rows = self.api.query(
            "SELECT object_key, etag, size_bytes, status, rows_loaded, reason, error_line, columns_added, "
            f"columns_widened, content_checksum FROM {qualified(ledger.SCHEMA, ledger.LEDGER)} WHERE batch_id = :batch",
            "unify-load outcomes", {"batch": batch_id})
        raw_table = table.qualified_raw_name if table else None
        recorded = {r[0]: r for r in rows}
        outcomes = []
        for key, etag, size in [(f.key, f.etag or f.checksum, f.size) for f in files] + \
                [(d.key, d.etag, d.size) for d in decisions]:
            row = recorded.get(key)
            if row is None:  # its guard found it decided by another loader
                outcomes.append(FileOutcome(key, etag, size, raw_table, SKIPPED, "another loader"))
                continue
            _k, _e, _s, status, n, reason, line, added, widened, checksum = row
            outcomes.append(FileOutcome(key, etag, size, raw_table, status, batch_id,
                                        rows=int(n or 0) if status == LOADED else 0, reason=reason,
                                        line=int(line) if line is not None else None,
                                        added_columns=tuple(a for a in (added or "").split(",") if a),
                                        checksum=checksum or "",
                                        widened=tuple(w for w in (widened or "").split(ledger.WIDENED_SEPARATOR) if w)))
        return outcomes


class _TooManyStatements(Exception):
    """A per-event script over the Data API's MAX_STATEMENTS: the caller splits its files in two."""


class _BulkFellBack(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _failed_statement(script: Sequence[Statement], result: StatementResult) -> Statement | None:
    failed = result.failed_index()
    return script[failed] if failed is not None and failed < len(script) else None


# Redshift load error codes (STL_LOAD_ERRORS / SYS_LOAD_ERROR_DETAIL "error_code", the Redshift developer
# guide's load error reference) -> kinds of problem; the raw value and its message are never copied.
_LOAD_ERROR_KINDS = {1201: "missing_fields", 1202: "extra_fields", 1203: "malformed", 1204: "length",
                     1205: "invalid", 1206: "invalid", 1207: "invalid", 1208: "invalid", 1209: "invalid",
                     1210: "invalid", 1211: "missing_fields", 1213: "null", 1214: "missing_fields",
                     1215: "invalid", 1216: "malformed", 1220: "utf8", 1224: "too_large"}
# Redshift's words for a value its column cannot take (the Data API reports no SQLSTATE, only text).
_VALUE_WORDS = {"invalid digit": "invalid", "invalid input syntax": "invalid", "overflow": "range",
                "out of range": "range", "value too long": "length", "exceeds ddl length": "length",
                "not-null": "null", "null value": "null", "invalid timestamp": "invalid", "invalid date": "invalid",
                "cannot be cast": "invalid", "invalid format": "invalid"}


def _kind_of_text(text: str) -> str:
    lowered = text.lower()
    return next((kind for words, kind in _VALUE_WORDS.items() if words in lowered), "malformed")


def _value_error(text: str) -> bool:
    lowered = text.lower()
    return any(words in lowered for words in _VALUE_WORDS)


def _kind_of_load_error(code, message: str | None) -> str:
    try:
        kind = _LOAD_ERROR_KINDS.get(int(code))
    except (TypeError, ValueError):
        kind = None
    if kind == "length" and message and "overflow" in message.lower():
        return "range"  # 1204 is also a number out of its type's range
    return kind or _kind_of_text(message or "")


def _type_text(data_type: str, length, precision, scale) -> str:
    t = (data_type or "").lower()
    if t == "character varying" and length:
        return f"varchar({int(length)})"
    if t == "character" and length:
        return f"char({int(length)})"
    if t == "numeric" and precision is not None:
        return f"numeric({int(precision)},{int(scale or 0)})"
    return t
