"""The Redshift path, checked offline: generated SQL parses as Redshift (sqlglot) and carries the documented
COPY options; manifests are written to S3 (moto, over HTTP) and read back; the Data API client speaks
to moto's redshift-data server over HTTP, and a batch's full conversation (failure, SYS_LOAD_ERROR_DETAIL,
quarantine, retry, lock timeout) runs against a recorded client validated by botocore's service model.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import boto3
import pytest
import sqlglot
from _fake_redshift_data import Answer, FakeRedshiftData
from sqlglot import exp

from loaders.landing import open_landing
from loaders.load import _prepare, load, new_batch_id
from loaders.errors import LoadFailure, LockTimeout
from loaders.records import Batch, Quarantine
from loaders.manifest import read_manifest
from loaders.source_tables import ALL_TABLES
from loaders.sources import Layout, identify
from loaders.warehouse.base import contract_types
from loaders.warehouse.redshift import DataApi, RedshiftConfig, RedshiftWarehouse
from loaders.warehouse.redshift_sql import (Decision, batch_script, copy_sql, create_raw_table_sql, ledger_ddl,
                                            literal)
from unify.cycle_selection import FULL, choose

ROLE = "arn:aws:iam::123456789012:role/glc-redshift-copy"

# SOURCE_FORMATS.md, "Amazon Redshift COPY": the options each format must carry, as documented.
EXPECTED_OPTIONS = {
    "dms-csv": "FORMAT AS CSV IGNOREBLANKLINES IGNOREHEADER 1 NULL AS 'NULL' TIMEFORMAT 'auto' DATEFORMAT 'auto' "
               "COMPUPDATE OFF STATUPDATE OFF MANIFEST",
    "tms-csv": "FORMAT AS CSV IGNOREBLANKLINES IGNOREHEADER 1 EMPTYASNULL TIMEFORMAT 'auto' DATEFORMAT 'auto' "
               "COMPUPDATE OFF STATUPDATE OFF MANIFEST",
    "json": "FORMAT AS JSON 'auto ignorecase' TIMEFORMAT 'auto' DATEFORMAT 'auto' COMPUPDATE OFF STATUPDATE OFF "
            "MANIFEST",
    "parquet": "FORMAT AS PARQUET MANIFEST",
}


def svv_rows(types: dict[str, str]) -> list[list]:
    """Columns as Redshift's svv_columns reports them (data_type, character_maximum_length, precision, scale)."""
    rows = []
    for name, type_ in types.items():
        base, _, args = type_.partition("(")
        numbers = [int(a) for a in args.rstrip(")").split(",")] if args else []
        data_type = {"varchar": "character varying", "char": "character",
                     "timestamp": "timestamp without time zone"}.get(base, base)
        length = numbers[0] if base in ("varchar", "char") else None
        precision, scale = (numbers + [0])[:2] if base == "numeric" else (None, None)
        rows.append([name, data_type, length, precision, scale])
    return rows


def _params(copy: exp.Copy) -> list[str]:
    return [p.sql(dialect="redshift") for p in copy.args["params"]]


@pytest.fixture(scope="module")
def s3_files(s3_endpoint, faults_csv, faults_parquet):
    """A few simulator files (DMS CSV and Parquet, AppFlow JSON, TMS CSV) uploaded to a moto bucket."""
    bucket = f"glc-raw-rs-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    picks = {}
    for landing, prefixes in ((faults_csv, ("dms/azureware/dbo/Orders/", "appflow/salesforce/salesforce-contract/",
                                            "tms/shipments/")),
                              (faults_parquet, ("dms/azureware/dbo/OrderLines/",))):
        for prefix in prefixes:
            keys = [k for k, v in landing.good.items() if k.startswith(prefix) and v.records]
            for key in keys[:3]:
                client.put_object(Bucket=bucket, Key=f"raw/{key}", Body=landing.objects[key].data)
                picks[key] = landing.objects[key]
    return bucket, picks


def _prepared(zone, keys):
    files = [identify(zone.stat(k), Layout()) for k in keys]
    table = files[0].table
    loads, quarantines = _prepare(zone, files, dict(contract_types(table)))
    assert not quarantines
    return table, loads


def _parse(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="redshift")


def test_copy_statements_carry_the_documented_options_per_format(s3_files):
    bucket, picks = s3_files
    zone = open_landing(f"s3://{bucket}/raw")
    cases = {
        "dms-csv": [k for k in picks if k.startswith("dms/azureware/dbo/Orders/")],
        "tms-csv": [k for k in picks if k.startswith("tms/")],
        "json": [k for k in picks if k.startswith("appflow/")],
        "parquet": [k for k in picks if k.startswith("dms/azureware/dbo/OrderLines/")],
    }
    for case, keys in cases.items():
        table, loads = _prepared(zone, keys[:1])
        f = loads[0]
        manifest = f"s3://{bucket}/_unify/manifests/b/00000.manifest"
        copy = _parse(copy_sql("unify_stage_0", f, manifest, ROLE))
        assert isinstance(copy, exp.Copy), case
        documented = _parse(f"COPY t FROM 's3://b/m' IAM_ROLE 'r' {EXPECTED_OPTIONS[case]}")
        assert _params(copy) == _params(documented), case  # the same options, in the same order
        assert copy_sql("unify_stage_0", f, manifest, ROLE).endswith(EXPECTED_OPTIONS[case])
        assert [e.name for e in copy.args["files"]] == [manifest]
        assert copy.args["credentials"].args["iam_role"].name == ROLE
        target = copy.this
        columns = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else []
        if case.endswith("csv"):  # the explicit column list IS the header, by name
            assert columns == [h.lower() for h in picks[keys[0]].header]
        elif case == "parquet":  # by position: no column list; the stage table has the file's columns in order
            assert columns == [] and [c.raw_name for c in f.columns] == [h.lower() for h in picks[keys[0]].header]
        else:
            assert set(columns) <= {c.raw_name for c in table.columns}


def test_every_statement_of_a_batch_is_valid_redshift_and_keys_stay_literals(s3_files):
    bucket, picks = s3_files
    zone = open_landing(f"s3://{bucket}/raw")
    table, loads = _prepared(zone, [k for k in picks if k.startswith("dms/azureware/dbo/Orders/")])
    evil = "dms/azureware/dbo/Orders\"; drop table raw_azureware.orders; --/x'); delete from t; --\\.csv"
    manifests = {i: f"s3://{bucket}/m/{i}.manifest" for i in range(len(loads))}
    evil_decision = Decision(evil, "e'tag", 3, "quarantined", "it's \\ bad", None, "crc64nvme:AAAAAAAAAAA=")
    script = batch_script(new_batch_id(), table, loads, contract_types(table), manifests, ROLE, "host pid 1",
                          [evil_decision])
    assert len(script) <= 40  # the Data API's limit for one BatchExecuteStatement
    kinds = [type(_parse(s.sql)).__name__ for s in script]
    assert kinds[0] == "Command" and script[0].sql == 'LOCK "unify_loader"."load_ledger"'
    assert "Command" not in kinds[1:]  # everything else parses as real statements
    assert [s.role for s in script].count("copy") == len(loads)
    assert [s.role for s in script].count("check") == len(loads)  # DMS: every Op must be I, U or D
    for statement in script:
        tree = _parse(statement.sql)
        identifiers = {i.name for i in tree.find_all(exp.Identifier)}
        assert not any("drop" in i or "delete" in i for i in identifiers)
    quarantine = _parse(next(s.sql for s in script if s.role == "decisions"))
    literals = [lit.name for lit in quarantine.find_all(exp.Literal) if lit.is_string]
    assert evil in literals and "it's \\ bad" in literals and "e'tag" in literals
    for ddl in [*ledger_ddl(), *(create_raw_table_sql(t) for t in ALL_TABLES)]:
        assert isinstance(_parse(ddl), exp.Create)
    assert _parse(f"SELECT {literal(evil)}").expressions[0].name == evil


def test_text_timestamps_that_may_carry_a_zone_offset_are_converted_to_utc_before_the_insert(s3_files):
    """Redshift, like PostgreSQL, ignores an offset in a value for a TIMESTAMP column. A TMS file's timestamp
    columns are staged as TIMESTAMPTZ (COPY converts an offset to UTC) and inserted AT TIME ZONE 'UTC'; an
    AppFlow file's (staged as text, JSON) are cast to TIMESTAMPTZ, then taken AT TIME ZONE 'UTC'. DMS writes no
    offsets: its stage keeps the raw types."""
    bucket, picks = s3_files
    zone = open_landing(f"s3://{bucket}/raw")
    for prefix, staged_with_zone in (("tms/", True), ("appflow/", False), ("dms/azureware/dbo/Orders/", False)):
        table, loads = _prepared(zone, [k for k in picks if k.startswith(prefix)][:1])
        types = contract_types(table)
        script = batch_script(new_batch_id(), table, loads, types, {0: f"s3://{bucket}/m/0"}, ROLE, "host pid 1", [])
        timestamps = {c.raw_name for c in loads[0].columns if types[c.raw_name] == "timestamp"}
        assert timestamps, prefix
        stage = _parse(next(s.sql for s in script if s.role == "stage"))
        with_zone = {d.name for d in stage.find_all(exp.ColumnDef)
                     if d.args["kind"].this == exp.DataType.Type.TIMESTAMPTZ}
        insert = _parse(next(s.sql for s in script if s.role == "insert"))
        at_utc = {z.find(exp.Column).name: z.this for z in insert.find_all(exp.AtTimeZone)
                  if z.args["zone"].name == "UTC"}
        assert with_zone == (timestamps if staged_with_zone else set()), prefix
        if prefix.startswith("dms/"):
            assert not at_utc
            continue
        assert set(at_utc) == timestamps, prefix
        for value in at_utc.values():  # staged with a zone, or cast to one
            assert isinstance(value, exp.Column) if staged_with_zone else \
                (isinstance(value, exp.Cast) and value.to.this == exp.DataType.Type.TIMESTAMPTZ), prefix


def test_the_dms_null_marker_in_a_not_null_text_column_is_inserted_as_its_text(s3_files):
    """literal_null_columns: DMS's NOT NULL text columns take COALESCE(value, 'NULL'), as PostgreSQL's
    FORCE_NOT_NULL loads them; nullable and numeric columns, and the TMS (an empty field is NULL), do not."""
    bucket, picks = s3_files
    zone = open_landing(f"s3://{bucket}/raw")
    for prefix in ("dms/azureware/dbo/Orders/", "tms/"):
        table, loads = _prepared(zone, [k for k in picks if k.startswith(prefix)][:1])
        types = contract_types(table)
        script = batch_script(new_batch_id(), table, loads, types, {0: f"s3://{bucket}/m/0"}, ROLE, "host pid 1", [])
        insert = _parse(next(s.sql for s in script if s.role == "insert"))
        coalesced = {c.find(exp.Column).name: c.expressions[0].name for c in insert.find_all(exp.Coalesce)}
        expected = {c.raw_name: "NULL" for c in table.columns
                    if not c.nullable and c.raw_type.startswith("varchar")} if prefix.startswith("dms/") else {}
        assert coalesced == expected and (expected or prefix == "tms/"), prefix
        assert "ordernumber" in expected or prefix == "tms/"


def test_manifests_are_written_to_s3_and_name_exactly_the_file(s3_files):
    bucket, picks = s3_files
    zone = open_landing(f"s3://{bucket}/raw")
    config = RedshiftConfig("unify", ROLE, f"s3://{bucket}/_unify/manifests", cluster_id="glc", db_user="loader")
    warehouse = RedshiftWarehouse(config, DataApi(None, config), boto3.client("s3"))
    for prefix in ("dms/azureware/dbo/Orders/", "dms/azureware/dbo/OrderLines/"):
        table, loads = _prepared(zone, [k for k in picks if k.startswith(prefix)])
        urls = warehouse._write_manifests("20261123T000000Z-test", loads)
        for f in loads:
            document = read_manifest(boto3.client("s3"), urls[f.key])
            entry = {"url": f"s3://{bucket}/raw/{f.key}", "mandatory": True}
            if f.file_format.kind == "parquet":
                size = boto3.client("s3").head_object(Bucket=bucket, Key=f"raw/{f.key}")["ContentLength"]
                entry["meta"] = {"content_length": size}
            assert document == {"entries": [entry]}
            assert urls[f.key].startswith(f"s3://{bucket}/_unify/manifests/20261123T000000Z-test/")


def test_data_api_client_over_http_against_moto(s3_endpoint):
    config = RedshiftConfig("unify", ROLE, "s3://m/p", cluster_id="glc-analytics", db_user="unify_loader",
                            poll_s=0.05)
    client = boto3.client("redshift-data")
    api = DataApi(client, config)
    statement_id = api.submit("SELECT 1", "unify-load test", {"batch": "b1"})
    described = client.describe_statement(Id=statement_id)
    assert described["QueryString"] == "SELECT 1" and described["Database"] == "unify"
    assert described["ClusterIdentifier"] == "glc-analytics" and described["DbUser"] == "unify_loader"
    with pytest.raises(LoadFailure, match="cancelled it"):  # moto never finishes a statement
        api.wait(statement_id, timeout_s=0.3)
    assert client.describe_statement(Id=statement_id)["Status"] == "ABORTED"


def _warehouse(fake, bucket, lock_wait_s=600.0):
    config = RedshiftConfig("unify", ROLE, f"s3://{bucket}/_unify/manifests", workgroup="glc-serverless",
                            secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:loader", poll_s=0.01)
    return RedshiftWarehouse(config, DataApi(fake, config, sleep=lambda s: None), boto3.client("s3"),
                             lock_wait_s=lock_wait_s)


def test_a_rejected_file_is_looked_up_quarantined_and_the_batch_reruns_without_it(s3_files):
    bucket, picks = s3_files
    zone = open_landing(f"s3://{bucket}/raw")
    table, loads = _prepared(zone, [k for k in picks if k.startswith("dms/azureware/dbo/Orders/")])
    bad = loads[1]
    attempts = []

    def answer(sqls, params):
        sql = sqls[0]
        if len(sqls) > 1:  # the batch
            attempts.append(sqls)
            if len(attempts) == 1:
                failed = next(i for i, s in enumerate(sqls) if s.startswith("COPY") and "00001.manifest" in s)
                return Answer("FAILED", "Load into table 'unify_stage_1' failed. Check 'sys_load_error_detail' "
                                        "system table for details.", failed, polls_before_done=2)
            return Answer("FINISHED")
        if "sys_load_error_detail" in sql:
            assert params["Parameters"] == [{"name": "url", "value": bad.uri}]
            # SYS_LOAD_ERROR_DETAIL quotes the value ('x' here; a customer's name elsewhere): never copied
            return Answer(rows=[[bad.uri, 7, "orderid", 1207, "Invalid digit, Value 'x', Pos 0, Type: Long"]])
        if "svv_transactions" in sql:
            return Answer(rows=[])
        if "svv_columns" in sql:
            return Answer(rows=svv_rows(dict(contract_types(table))))
        if "WHERE batch_id = :batch" in sql:
            rows = [[f.key, f.etag, f.size, "loaded", 10 + i, None, None, None, None, f.checksum]
                    for i, f in enumerate(loads) if f is not bad]
            rows.append([bad.key, bad.etag, bad.size, "quarantined", None, "column orderid: not a valid bigint", 7,
                         None, None, bad.checksum])
            return Answer(rows=rows)
        raise AssertionError(f"unexpected SQL {sql}")

    fake = FakeRedshiftData(answer)
    warehouse = _warehouse(fake, bucket)
    steps = []
    outcomes = warehouse.load_batch(Batch(new_batch_id(), table, tuple(loads)), steps.append)

    assert len(attempts) == 2
    first, second = attempts
    assert sum(s.startswith("COPY") for s in first) == len(loads)
    assert sum(s.startswith("COPY") for s in second) == len(loads) - 1  # without the rejected file
    quarantine = [s for s in second
                  if s.startswith('INSERT INTO "unify_loader"."load_ledger"') and "'quarantined'" in s]
    assert len(quarantine) == 1 and literal(bad.key) in quarantine[0]
    assert "'column orderid: not a valid bigint', 7, " in quarantine[0]
    assert "Invalid digit" not in quarantine[0] and "'x'" not in quarantine[0]
    assert steps == ["before_copy", "after_copy", "before_copy", "after_copy", "after_commit"]
    assert {o.key: o.status for o in outcomes} == {f.key: ("quarantined" if f is bad else "loaded") for f in loads}
    assert all(op != "ExecuteStatement" or "Parameters" not in p or all(isinstance(x["value"], str)
               for x in p["Parameters"]) for op, p in fake.calls)
    for sql in second:
        assert sql.startswith("LOCK") or not isinstance(_parse(sql), exp.Command)


def test_a_copy_failure_that_is_not_the_files_data_fails_the_run(s3_files):
    bucket, picks = s3_files
    zone = open_landing(f"s3://{bucket}/raw")
    table, loads = _prepared(zone, [k for k in picks if k.startswith("tms/")])

    def answer(sqls, params):
        if len(sqls) > 1:
            failed = next(i for i, s in enumerate(sqls) if s.startswith("COPY"))
            return Answer("FAILED", "S3ServiceException:Access Denied,Status 403", failed)
        if "sys_load_error_detail" in sqls[0]:
            return Answer(rows=[])  # no row-level error: not a data problem
        return Answer(rows=[])

    warehouse = _warehouse(FakeRedshiftData(answer), bucket)
    with pytest.raises(LoadFailure, match="Access Denied"):
        warehouse.load_batch(Batch(new_batch_id(), table, tuple(loads)))


def test_a_batch_stuck_behind_the_load_lock_is_cancelled_with_a_clear_message(s3_files):
    bucket, picks = s3_files
    zone = open_landing(f"s3://{bucket}/raw")
    table, loads = _prepared(zone, [k for k in picks if k.startswith("tms/")])

    def answer(sqls, params):
        if len(sqls) > 1:
            return Answer("FINISHED", polls_before_done=10_000)  # LOCK never granted
        if "svv_transactions" in sqls[0]:
            return Answer(rows=[[4242, "other_loader", "2026-11-23 00:00:00"]])
        return Answer(rows=[])

    fake = FakeRedshiftData(answer)
    warehouse = _warehouse(fake, bucket, lock_wait_s=0.0)
    with pytest.raises(LockTimeout, match="gave up waiting for the load lock"):
        warehouse.load_batch(Batch(new_batch_id(), table, tuple(loads)))
    assert any(op == "CancelStatement" for op, _ in fake.calls)


def test_planning_against_redshift_in_a_dry_run(database, s3_files):
    """The whole core with the Redshift warehouse: discover on S3, ledger and columns via the Data API."""
    bucket, picks = s3_files

    def answer(sqls, params):
        if "svv_tables" in sqls[0]:
            return Answer(rows=[[0]])  # no ledger yet
        if "svv_columns" in sqls[0]:
            return Answer(rows=[])  # no raw tables yet: the contract's columns are used
        raise AssertionError(f"a dry run must not write: {sqls}")

    fake = FakeRedshiftData(answer)
    report = load(database, f"s3://{bucket}/raw", dry_run=True, warehouse=_warehouse(fake, bucket))
    assert report.exit_code == 0, report.summary()
    assert report.files == len(picks) and report.rows == sum(len(v.records) for v in picks.values())
    assert report.target.startswith("redshift redshift://workgroup glc-serverless/unify")
    assert not any(op == "BatchExecuteStatement" for op, _ in fake.calls)


@pytest.mark.parametrize("error, quarantined, expected_reason", [
    ("Invalid digit, Value 'A', Pos 0, Type: Integer", True, "a value its column's type refuses"),
    ("null value in column \"op\" violates not-null constraint", True,
     "no value where the source declares one (NOT NULL)"),
    ("permission denied for relation orders", False, None),  # the loader's grants: not the file's fault
])
def test_an_insert_failure_quarantines_only_when_it_is_the_files_data(s3_files, error, quarantined, expected_reason):
    bucket, picks = s3_files
    zone = open_landing(f"s3://{bucket}/raw")
    table, loads = _prepared(zone, [k for k in picks if k.startswith("dms/azureware/dbo/OrderLines/")])
    attempts = []

    def answer(sqls, params):
        if len(sqls) > 1:
            attempts.append(sqls)
            if len(attempts) == 1:
                insert = next(i for i, s in enumerate(sqls) if s.startswith('INSERT INTO "raw_'))
                return Answer("FAILED", error, insert)
            return Answer("FINISHED")
        return Answer(rows=[])

    warehouse = _warehouse(FakeRedshiftData(answer), bucket)
    if quarantined:
        warehouse.load_batch(Batch(new_batch_id(), table, tuple(loads)))
        quarantines = [s for s in attempts[1] if "'quarantined'" in s and s.startswith('INSERT INTO "unify_loader"."load_ledger"')]
        assert len(attempts) == 2 and len(quarantines) == 1
        assert literal(expected_reason) in quarantines[0] and "'A'" not in quarantines[0]  # the kind, never the value
    else:
        with pytest.raises(LoadFailure, match="permission denied"):
            warehouse.load_batch(Batch(new_batch_id(), table, tuple(loads)))
        assert len(attempts) == 1


def test_raw_tables_are_distributed_by_their_key_and_sorted_by_load_time():
    """DDL of every raw table: DISTKEY a key column (staging's CDC window stays on one slice) and a compound
    SORTKEY on _loaded_at (incremental models read rows loaded since their high-water mark)."""
    expected_dist = {t.qualified_raw_name: t.primary_key[0].lower() for t in ALL_TABLES}
    expected_dist["raw_azureware.inventory_balances"] = "productid"  # (WarehouseId, ProductId): the fine column
    for table in ALL_TABLES:
        ddl = create_raw_table_sql(table)
        assert ddl.endswith(f'DISTSTYLE KEY DISTKEY ("{expected_dist[table.qualified_raw_name]}") '
                            'COMPOUND SORTKEY ("_loaded_at")'), ddl
        tree = _parse(ddl)
        assert isinstance(tree, exp.Create)
        props = tree.args["properties"].expressions
        dist = [p for p in props if isinstance(p, exp.DistKeyProperty)]
        style = [p for p in props if isinstance(p, exp.DistStyleProperty)]
        sort = [p for p in props if isinstance(p, exp.SortKeyProperty)]
        assert [p.this.name.upper() for p in style] == ["KEY"]
        assert [p.this.name for p in dist] == [expected_dist[table.qualified_raw_name]]
        assert [([e.name for e in p.this], bool(p.args.get("compound"))) for p in sort] == [(["_loaded_at"], True)]
        columns = {c.name for c in tree.this.expressions if isinstance(c, exp.ColumnDef)}
        assert expected_dist[table.qualified_raw_name] in columns and "_loaded_at" in columns


def test_existing_raw_tables_get_the_keys_new_ones_are_created_with(s3_files):
    """Set-up on Redshift: raw tables that exist with other keys are altered, one statement each (ALTER
    DISTKEY/SORTKEY cannot run in a transaction block); tables already right are left alone."""
    bucket, _picks = s3_files
    submitted: list[str] = []

    def answer(sqls, params):
        sql = sqls[0]
        if len(sqls) == 1:
            submitted.append(sql)
        if "svv_columns" in sql:  # every raw table and the ledger exist with their contract columns
            from loaders import ledger
            rows = [["unify_loader", "load_ledger", *r] for r in svv_rows({n: t for n, t, _ in ledger.LEDGER_COLUMNS})]
            rows += [["unify_loader", "load_batches", *r] for r in svv_rows({n: t for n, t, _ in ledger.BATCH_COLUMNS})]
            for t in ALL_TABLES:
                rows += [[t.raw_schema, t.raw_table, *r] for r in svv_rows(dict(contract_types(t)))]
            return Answer(rows=rows)
        if "attisdistkey" in sql:  # as the old DDL made them: DISTKEY(first key column), SORTKEY(_loaded_at)
            rows = []
            for t in ALL_TABLES:
                rows.append([t.raw_schema, t.raw_table, t.primary_key[0].lower(), True, 0])
                if t.raw_table != "carriers":  # carriers: created without a sort key
                    rows.append([t.raw_schema, t.raw_table, "_loaded_at", False, 1])
            return Answer(rows=rows)
        if sql.startswith("ALTER TABLE"):
            return Answer("FINISHED")
        raise AssertionError(f"unexpected SQL {sqls}")

    fake = FakeRedshiftData(answer)
    _warehouse(fake, bucket).setup(ALL_TABLES)
    alters = [s for s in submitted if s.startswith("ALTER")]
    assert alters == ['ALTER TABLE "raw_azureware"."inventory_balances" ALTER DISTSTYLE KEY DISTKEY "productid"',
                      'ALTER TABLE "raw_tms"."carriers" ALTER COMPOUND SORTKEY ("_loaded_at")']
    for statement in alters:
        assert isinstance(_parse(statement), exp.Alter)
    assert fake.batches() == []  # nothing else to create


# ---------------------------------------------------------------------------------------------- issue 13/15/18
TMS_CARRIERS = "carrier_id,carrier_name,scac,mode,updated_at\n"


def _carrier_files(bucket: str, prefix: str, count: int, scac: str = "ABCD", **put) -> list[str]:
    """`count` TMS carrier extracts written here by hand, uploaded to moto's S3."""
    client = boto3.client("s3")
    keys = []
    for day in range(1, count + 1):
        key = f"tms/carriers/dt=2026-10-{day:02d}/carriers-202610{day:02d}.csv"
        body = TMS_CARRIERS + f"C{day},Carrier {day},{scac},ROAD,2026-10-{day:02d}T10:00:00Z\n"
        client.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=body.encode(), **put)
        keys.append(key)
    return keys


def _tms_answer(table, batches, sub_rows=None, fail=None):
    """A Data API that answers the loader's reads for raw_tms.carriers and records every batch; `fail(sqls)`
    may return an Answer for a batch."""
    def answer(sqls, params):
        sql = sqls[0]
        if len(sqls) > 1:
            batches.append(sqls)
            got = fail(sqls) if fail else None
            return got or Answer("FINISHED", sub_rows=sub_rows or {})
        if "svv_columns" in sql:
            return Answer(rows=svv_rows(dict(contract_types(table))))
        return Answer(rows=[])
    return answer


def test_a_batch_larger_than_one_data_api_call_runs_as_several_transactions_of_at_most_40(s3_bucket):
    keys = _carrier_files(s3_bucket, "raw", 20)
    zone = open_landing(f"s3://{s3_bucket}/raw")
    table, loads = _prepared(zone, keys)
    batches: list[list[str]] = []
    fake = FakeRedshiftData(_tms_answer(table, batches))
    warehouse = _warehouse(fake, s3_bucket)
    warehouse.config = RedshiftConfig(**{**warehouse.config.__dict__, "bulk_files": 0})  # the per-event path
    outcomes = warehouse.load_batch(Batch("20261101T000000Z-abc", table, tuple(loads)))
    assert len(batches) == 3 and all(len(b) <= 40 for b in batches)  # 20 files x 4 statements + 3 each
    assert sum(sum(s.startswith("COPY") for s in b) for b in batches) == 20
    ids = [next(s.split("WHERE \"batch_id\" = ")[1].split(" ")[0] for s in b if s.startswith('INSERT INTO "unify_loader"."load_batches"'))
           for b in batches]
    assert ids == ["'20261101T000000Z-abc'", "'20261101T000000Z-abc-2'", "'20261101T000000Z-abc-3'"]
    assert len(outcomes) == 20
    for b in batches:
        assert b[0].startswith("LOCK") and b[1].startswith('CREATE TEMP TABLE "unify_batch_clock" AS SELECT ')
        clock = _parse(b[1])  # the statement's clock, or 1 µs after the newest committed batch's stamp
        assert isinstance(clock.expression.expressions[0].this, exp.Greatest)
        assert clock.find(exp.CurrentTimestamp) is not None  # GETDATE(): the statement's start, after the LOCK
        assert [t.name for t in clock.find_all(exp.Table)] == ["unify_batch_clock", "load_batches"]
        assert not any("SYSDATE" in s for s in b)  # the transaction's start would be before the LOCK wait
        inserts = [s for s in b if s.startswith('INSERT INTO "raw_tms"')]
        assert inserts and all('(SELECT "loaded_at" FROM "unify_batch_clock")' in s for s in inserts)
        for s in b[1:]:
            assert not isinstance(_parse(s), exp.Command), s


def test_a_value_a_wider_varchar_holds_alters_the_column_in_place_before_the_batch(s3_bucket):
    keys = _carrier_files(s3_bucket, "wide", 1, scac="ABCDEFGHIJ")
    zone = open_landing(f"s3://{s3_bucket}/wide")
    table, loads = _prepared(zone, keys)
    batches: list[list[str]] = []
    singles: list[str] = []

    def fail(sqls):
        if any(s.startswith("SELECT COUNT(") for s in sqls):  # the profile: scac's 9 values, longest 10 bytes
            return None
        if len(batches) == 1:  # the first load attempt: COPY into the stage refuses scac (varchar(4))
            return Answer("FAILED", "Load into table failed", next(i for i, s in enumerate(sqls) if s.startswith("COPY")))
        return None

    base = _tms_answer(table, batches, fail=fail)
    profile = [1, 10, 10, 0, 0, 0, 0, None, None]  # for scac: 1 value, 10 characters, 10 bytes, not a number

    def answer(sqls, params):
        if len(sqls) == 1:
            singles.append(sqls[0])
            if "sys_load_error_detail" in sqls[0]:
                return Answer(rows=[[loads[0].uri, 2, "scac", 1204, "String length exceeds DDL length"]])
        got = base(sqls, params)
        if len(sqls) > 1 and sqls[-1].startswith("SELECT COUNT("):
            got.sub_rows = {3: [[0] * 9 * 2 + profile + [0] * 9 * 2]}
        return got

    outcomes = _warehouse(FakeRedshiftData(answer), s3_bucket).load_batch(Batch(new_batch_id(), table, tuple(loads)))
    profile_batch = next(b for b in batches if b[-1].startswith("SELECT COUNT("))
    assert profile_batch[0].startswith('CREATE TEMP TABLE "unify_profile" (') and "varchar(65535)" in profile_batch[0]
    assert isinstance(_parse(profile_batch[-1]), exp.Select)
    alters = [s for s in singles if s.startswith("ALTER TABLE")]
    assert alters == ['ALTER TABLE "raw_tms"."carriers" ALTER COLUMN "scac" TYPE varchar(10)']  # max(10, 2 x 4) bytes
    assert isinstance(_parse(alters[0]), exp.Alter)
    last = batches[-1]
    assert not any("__unify_widen" in s for s in last)  # no deep copy for a varchar
    ledger_row = next(s for s in last if s.startswith('INSERT INTO "unify_loader"."load_ledger"') and "'loaded'" in s)
    assert "'scac varchar(4)->varchar(10)'" in ledger_row
    assert [o.status for o in outcomes] == ["skipped"]  # the fake keeps no ledger: the outcome query finds none


def _weight_kg_overflow_profile(targets: list[str]) -> Answer:
    """The profile batch's answer for a shipments file whose weight_kg holds 123456789012.5 (13 characters,
    a decimal with 12 integer digits and 1 decimal): ColumnProfile's nine values per profiled column."""
    row = []
    for name in targets:
        row += [1, 13, 13, 0, 1, 12, 1, None, None] if name == "weight_kg" else [1, 4, 4, 1, 1, 1, 0, 1, 1]
    return Answer(sub_rows={3: [row]})


def _weight_kg_overflow_statement(sql: str, table, uri: str) -> Answer:
    """Single statements after that file's COPY failed: its load error (weight_kg overflow), the raw
    table's columns as the contract has them, nothing else."""
    if "sys_load_error_detail" in sql:
        return Answer(rows=[[uri, 2, "weight_kg", 1204, "Numeric data overflow"]])
    if "svv_columns" in sql:
        return Answer(rows=svv_rows(dict(contract_types(table))))
    return Answer(rows=[])


def test_a_widening_redshift_cannot_alter_is_a_deep_copy_inside_the_batch(s3_bucket):
    client = boto3.client("s3")
    key = "tms/shipments/dt=2026-10-01/shipments-20261001.csv"
    client.put_object(Bucket=s3_bucket, Key=f"deep/{key}", Body=(
        "shipment_id,order_number,warehouse_code,carrier_id,service_level,tracking_number,shipped_at,"
        "estimated_delivery_at,delivered_at,status,weight_kg,freight_cost,currency,updated_at\n"
        "S1,SO-1,LHR1,C1,LTL,T1,2026-10-01T09:00:00Z,,,IN_TRANSIT,123456789012.5,1.00,GBP,2026-10-01T10:00:00Z\n"
    ).encode())
    zone = open_landing(f"s3://{s3_bucket}/deep")
    table, loads = _prepared(zone, [key])
    batches: list[list[str]] = []
    names = [c.raw_name for c in loads[0].columns]
    targets = [n for n in names if n in loads[0].widenable]

    def answer(sqls, params):
        sql = sqls[0]
        if len(sqls) > 1:
            batches.append(sqls)
            if sqls[-1].startswith("SELECT COUNT("):
                return _weight_kg_overflow_profile(targets)
            loading = [b for b in batches if not b[-1].startswith("SELECT COUNT(")]
            if len(loading) == 1:
                return Answer("FAILED", "Load failed", next(i for i, s in enumerate(sqls) if s.startswith("COPY")))
            return Answer("FINISHED")
        return _weight_kg_overflow_statement(sql, table, loads[0].uri)

    _warehouse(FakeRedshiftData(answer), s3_bucket).load_batch(Batch(new_batch_id(), table, tuple(loads)))
    last = batches[-1]
    widen = [s for s in last if "__unify_widen" in s or s.startswith('DROP TABLE "raw_tms"')]
    assert [s.split(" (")[0] for s in widen[:1]] == ['CREATE TABLE "raw_tms"."shipments__unify_widen"']
    assert '"weight_kg" numeric(15,3)' in widen[0] and 'DISTKEY ("shipment_id")' in widen[0]
    assert widen[1].startswith('INSERT INTO "raw_tms"."shipments__unify_widen"') and \
        'CAST("weight_kg" AS numeric(15,3))' in widen[1]
    assert widen[2] == 'DROP TABLE "raw_tms"."shipments"'
    assert widen[3] == 'ALTER TABLE "raw_tms"."shipments__unify_widen" RENAME TO "shipments"'
    assert last.index(widen[3]) < next(i for i, s in enumerate(last) if s.startswith("COPY"))  # before the load
    for statement in widen:
        assert not isinstance(_parse(statement), exp.Command), statement


def test_a_group_whose_widening_outgrows_the_statement_budget_is_split_in_two(s3_bucket):
    """Eight TMS shipment files with an added column and one quarantine decision fill one transaction
    (8 x 4 statements, the column's ALTER, the decisions, 5 more: 39); the first file needs a deep copy (4
    more): 43 would exceed the Data API's 40 and fail every run. The group is split: the half holding the
    widened file commits with its deep copy, then the other half."""
    client = boto3.client("s3")
    header = ("shipment_id,order_number,warehouse_code,carrier_id,service_level,tracking_number,shipped_at,"
              "estimated_delivery_at,delivered_at,status,weight_kg,freight_cost,currency,updated_at,notes\n")
    keys = []
    for day in range(1, 9):
        key = f"tms/shipments/dt=2026-10-{day:02d}/shipments-202610{day:02d}.csv"
        weight = "123456789012.5" if day == 1 else "1.5"
        client.put_object(Bucket=s3_bucket, Key=f"split/{key}", Body=(
            header + f"S{day},SO-{day},LHR1,C1,LTL,T{day},2026-10-{day:02d}T09:00:00Z,,,IN_TRANSIT,{weight},1.00,GBP,"
            f"2026-10-{day:02d}T10:00:00Z,n{day}\n").encode())
        keys.append(key)
    zone = open_landing(f"s3://{s3_bucket}/split")
    table, loads = _prepared(zone, keys)
    batches: list[list[str]] = []
    committed: list[list[str]] = []
    targets = [n for n in (c.raw_name for c in loads[0].columns) if n in loads[0].widenable]

    def answer(sqls, params):
        sql = sqls[0]
        if len(sqls) > 1:
            assert len(sqls) <= 40, len(sqls)  # the Data API refuses more
            batches.append(sqls)
            if sqls[-1].startswith("SELECT COUNT("):
                return _weight_kg_overflow_profile(targets)
            widened = any("__unify_widen" in s for b in committed for s in b)
            if not widened and not any("__unify_widen" in s for s in sqls) and \
                    any(loads[0].uri in s or "00000" in s for s in sqls if s.startswith("COPY")):
                return Answer("FAILED", "Load failed", next(i for i, s in enumerate(sqls) if s.startswith("COPY")))
            committed.append(sqls)
            return Answer("FINISHED")
        return _weight_kg_overflow_statement(sql, table, loads[0].uri)

    warehouse = _warehouse(FakeRedshiftData(answer), s3_bucket)
    warehouse.config = RedshiftConfig(**{**warehouse.config.__dict__, "bulk_files": 0})  # the per-event path
    refused = Quarantine("tms/returns/dt=2026-10-01/returns-20261001.csv", "e1", 10, "unknown TMS extract", checksum="c1")
    warehouse.load_batch(Batch("20261101T000000Z-split", table, tuple(loads), (refused,)))
    assert len(committed) == 2 and all(len(b) <= 40 for b in batches), [len(b) for b in batches]
    assert [sum(s.startswith("COPY") for s in b) for b in committed] == [4, 4]  # every file, once
    assert any("__unify_widen" in s for s in committed[0]) and not any("__unify_widen" in s for s in committed[1])
    assert sum(s.startswith('INSERT INTO "unify_loader"."load_ledger"') and "'quarantined'" in s
               for b in committed for s in b) == 1  # the decision, with the first transaction only
    ids = [next(s.split("WHERE \"batch_id\" = ")[1].split(" ")[0] for s in b
                if s.startswith('INSERT INTO "unify_loader"."load_batches"')) for b in committed]
    assert ids == ["'20261101T000000Z-split'", "'20261101T000000Z-split-2'"]


def test_an_unknown_dms_op_fails_the_check_and_quarantines_the_file(s3_files):
    bucket, picks = s3_files
    zone = open_landing(f"s3://{bucket}/raw")
    table, loads = _prepared(zone, [k for k in picks if k.startswith("dms/azureware/dbo/Orders/")][:1])
    batches: list[list[str]] = []

    def fail(sqls):
        if len(batches) == 1:
            return Answer("FAILED", "division by zero", next(i for i, s in enumerate(sqls) if s.startswith("SELECT 1 /")))
        return None

    _warehouse(FakeRedshiftData(_tms_answer(table, batches, fail=fail)), bucket).load_batch(
        Batch(new_batch_id(), table, tuple(loads)))
    quarantine = next(s for s in batches[1] if "'quarantined'" in s and s.startswith('INSERT INTO "unify_loader"."load_ledger"'))
    assert literal("column op: a DMS operation other than I, U or D") in quarantine
    assert not any(s.startswith("COPY") for s in batches[1])


def test_a_vanished_object_is_left_for_the_next_run(s3_bucket):
    # uploaded with their CRC-64/NVME: identity known from HeadObject, so nothing reads them before the COPY
    keys = _carrier_files(s3_bucket, "gone", 2, ChecksumAlgorithm="CRC64NVME")
    zone = open_landing(f"s3://{s3_bucket}/gone")
    table, loads = _prepared(zone, keys)
    assert all(f.checksum.startswith("crc64nvme:") for f in loads)
    boto3.client("s3").delete_object(Bucket=s3_bucket, Key=f"gone/{keys[0]}")  # deleted after planning
    batches: list[list[str]] = []

    def fail(sqls):
        if len(batches) == 1:  # the mandatory manifest entry is missing: COPY fails, no row-level load error
            return Answer("FAILED", "S3ServiceException: The specified key does not exist",
                          next(i for i, s in enumerate(sqls) if s.startswith("COPY")))
        return None

    outcomes = _warehouse(FakeRedshiftData(_tms_answer(table, batches, fail=fail)), s3_bucket).load_batch(
        Batch(new_batch_id(), table, tuple(loads)))
    assert sum(s.startswith("COPY") for s in batches[1]) == 1
    assert [(o.key, o.status) for o in outcomes if o.status == "deferred"] == [(keys[0], "deferred")]


def test_a_backfill_is_one_copy_of_parquet_parts_that_carry_the_key_and_the_record_number(s3_bucket):
    import io

    import pyarrow.parquet as pq

    from loaders.manifest import read_manifest

    keys = _carrier_files(s3_bucket, "bulk", 30)
    zone = open_landing(f"s3://{s3_bucket}/bulk")
    table, loads = _prepared(zone, keys)
    batches: list[list[str]] = []
    _warehouse(FakeRedshiftData(_tms_answer(table, batches)), s3_bucket).load_batch(
        Batch("20261101T000000Z-bulk", table, tuple(loads)))
    [script] = batches  # thirty files, one transaction
    assert len(script) <= 12 and sum(s.startswith("COPY") for s in script) == 2
    for statement in script[1:]:
        assert not isinstance(_parse(statement), exp.Command), statement
    copy = next(s for s in script if s.startswith('COPY "unify_bulk" '))
    manifest_url = copy.split("FROM '")[1].split("'")[0]
    document = read_manifest(boto3.client("s3"), manifest_url)
    assert len(document["entries"]) == 30 and all(e["mandatory"] and e["meta"]["content_length"] > 0
                                                  for e in document["entries"])
    client = boto3.client("s3")
    seen = {}
    for entry in document["entries"]:
        bucket, part_key = entry["url"][5:].split("/", 1)
        part = pq.read_table(io.BytesIO(client.get_object(Bucket=bucket, Key=part_key)["Body"].read()))
        assert part.column_names == ["carrier_id", "carrier_name", "scac", "mode", "updated_at", "_source_key",
                                     "_source_row"]
        for row in part.to_pylist():
            seen[row["_source_key"]] = (row["_source_row"], row["carrier_id"], row["carrier_name"])
    assert seen == {k: (1, f"C{i}", f"Carrier {i}") for i, k in enumerate(keys, start=1)}
    insert = next(s for s in script if s.startswith('INSERT INTO "raw_tms"."carriers"'))
    assert 's."_source_key", s."_source_row"' in insert and 'CAST(s."updated_at" AS timestamp' in insert


def test_the_data_api_client_retries_through_botocore_not_by_hand():
    from loaders.warehouse.redshift import data_api_client

    client = data_api_client("us-east-1")
    retries = client.meta.config.retries  # 6 retries: 7 attempts in all, as the S3 client
    assert retries["mode"] == "standard" and retries["total_max_attempts"] == 7

    class Throttled:
        calls = 0

        def describe_statement(self, **params):
            Throttled.calls += 1
            from botocore.exceptions import ClientError
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "DescribeStatement")

    config = RedshiftConfig("unify", ROLE, "s3://m/p", cluster_id="glc", db_user="loader")
    with pytest.raises(LoadFailure, match="ThrottlingException"):
        DataApi(Throttled(), config, sleep=lambda s: None).wait("x")
    assert Throttled.calls == 1  # what reaches the loader has already been retried by botocore


def test_the_cycles_build_marks_are_read_and_recorded_with_valid_statements():
    """unify cycle's reads (the newest batch per raw table, this dbt schema's marks) and its record (one
    transaction): Data API calls botocore accepts, statements sqlglot parses as Redshift."""
    submitted: list[list[str]] = []

    def answer(sqls: list[str], _params: dict) -> Answer:
        submitted.append(sqls)
        if "svv_tables" in sqls[0]:
            return Answer(rows=[["load_ledger"], ["load_batches"], ["build_marks"]])
        if "load_batches" in sqls[0]:
            return Answer(rows=[["raw_tms.shipments", "2026-12-06 12:00:00.000001"],
                                ["raw_azureware.orders", "2026-12-06 11:00:00"]])
        if "build_marks" in sqls[0] and sqls[0].startswith("SELECT"):
            return Answer(rows=[["raw_tms.shipments", "2026-12-06 12:00:00"]])
        return Answer()

    warehouse = _warehouse(FakeRedshiftData(answer), "bucket")
    assert warehouse.newest_batches() == {"raw_tms.shipments": datetime(2026, 12, 6, 12, 0, 0, 1),
                                          "raw_azureware.orders": datetime(2026, 12, 6, 11, 0, 0)}
    assert warehouse.build_marks("analytics") == {"raw_tms.shipments": datetime(2026, 12, 6, 12, 0, 0)}
    chosen = choose(warehouse.newest_batches(), warehouse.build_marks("analytics"))
    assert chosen.restricted_to == ("raw_azureware.orders", "raw_tms.shipments")
    assert sum("svv_tables" in sqls[0] for sqls in submitted) == 1  # the ledger's tables read once
    warehouse.record_build_marks("analytics", {"raw_tms.shipments": datetime(2026, 12, 6, 12, 0, 0, 1)})
    create, delete, insert = submitted[-1]  # one transaction
    assert create.startswith('CREATE TABLE IF NOT EXISTS "unify_loader"."build_marks"')
    assert delete.endswith("\"dbt_schema\" = 'analytics' AND \"raw_table\" IN ('raw_tms.shipments')")
    assert "CAST('2026-12-06 12:00:00.000001' AS TIMESTAMP)" in insert
    for statements in submitted:
        for statement in statements:
            assert not isinstance(_parse(statement), exp.Command), statement
