"""The Redshift path, checked offline: generated SQL parses as Redshift (sqlglot) and carries the documented
COPY options; manifests are written to S3 (moto, over HTTP) and read back; the Data API client speaks
to moto's redshift-data server over HTTP, and a batch's full conversation (failure, SYS_LOAD_ERROR_DETAIL,
quarantine, retry, lock timeout) runs against a recorded client validated by botocore's service model.
"""

from __future__ import annotations

import uuid

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

ROLE = "arn:aws:iam::123456789012:role/glc-redshift-copy"

# SOURCE_FORMATS.md, "Amazon Redshift COPY": the options each format must carry, as documented.
EXPECTED_OPTIONS = {
    "dms-csv": "FORMAT AS CSV IGNOREHEADER 1 NULL AS 'NULL' TIMEFORMAT 'auto' DATEFORMAT 'auto' "
               "COMPUPDATE OFF STATUPDATE OFF MANIFEST",
    "tms-csv": "FORMAT AS CSV IGNOREHEADER 1 EMPTYASNULL TIMEFORMAT 'auto' DATEFORMAT 'auto' "
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
