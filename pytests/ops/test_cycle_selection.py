"""Which named build a frequent cycle runs (unify/cycle_selection.py): the rule, the marks on PostgreSQL
(loaded by the real loader) and the Redshift statements (sqlglot, botocore-validated Data API calls).
The whole cycle's use of it is in test_cycle.py (the `cycles` scenario: a cycle with only a WMS
delivery builds frequent_wms; the cycle after a failed one builds everything)."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import sqlglot

from loaders.load import EXIT_OK, load
from unify import cycle_selection
from unify.cycle_selection import FULL, WMS_ONLY, WMS_RAW_SCHEMA, Selection, choose

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "load"))
from _fake_redshift_data import Answer, FakeRedshiftData  # noqa: E402

T = datetime(2026, 12, 6, 12, 0, 0)


def test_only_new_wms_data_or_nothing_new_builds_the_wms_part():
    marks = {WMS_RAW_SCHEMA: T, "raw_tms": T, "raw_salesforce": T}
    assert choose({WMS_RAW_SCHEMA: T + timedelta(minutes=5), "raw_tms": T, "raw_salesforce": T}, marks).selector \
        == WMS_ONLY
    assert choose(dict(marks), marks).selector == WMS_ONLY  # nothing new: the "now" reports still move
    # a source with no batch yet, nor a mark, does not count as new
    assert choose({WMS_RAW_SCHEMA: T}, {WMS_RAW_SCHEMA: T}).selector == WMS_ONLY


def test_new_data_from_another_source_or_no_marks_builds_everything():
    marks = {WMS_RAW_SCHEMA: T, "raw_tms": T, "raw_salesforce": T}
    later = T + timedelta(microseconds=1)  # stamps rise by 1 µs at least: no tolerance on the comparison
    tms = choose({WMS_RAW_SCHEMA: T, "raw_tms": later, "raw_salesforce": T}, marks)
    assert (tms.selector, tms.reason) == (FULL, "new data in raw_tms")
    new_source = choose({WMS_RAW_SCHEMA: T, "raw_tms": T, "raw_salesforce": T, "raw_newsystem": T}, marks)
    assert (new_source.selector, new_source.reason) == (FULL, "new data in raw_newsystem")
    assert choose({WMS_RAW_SCHEMA: T}, {}).selector == FULL  # a first cycle, or marks never recorded


def test_a_partial_build_records_only_what_it_covers():
    newest = {WMS_RAW_SCHEMA: T, "raw_tms": T}
    assert Selection(WMS_ONLY, "", newest).covered() == {WMS_RAW_SCHEMA: T}
    assert Selection(FULL, "", newest).covered() == newest
    assert Selection("nightly", "", newest).covered() == newest


FEEDS = Path(__file__).resolve().parents[1] / "feeds" / "landing"  # hand-written deliveries


def _land(root: Path, key: str) -> None:
    (root / key).parent.mkdir(parents=True, exist_ok=True)
    (root / key).write_bytes((FEEDS / key).read_bytes())


def test_marks_on_postgresql_follow_the_loads_per_dbt_schema(database, tmp_path, monkeypatch):
    monkeypatch.delenv("UNIFY_LOAD_TARGET", raising=False)
    monkeypatch.setenv("UNIFY_LOAD_QUIET_S", "0")
    root = tmp_path / "landing"
    _land(root, "dms/azureware/dbo/Orders/20261102-235900123.csv")
    _land(root, "tms/carriers/dt=2026-11-02/carriers-20261102.csv")
    assert load(database, str(root)).exit_code == EXIT_OK
    first = cycle_selection.select(database, FULL, "analytics")
    assert (first.selector, set(first.newest)) == (FULL, {WMS_RAW_SCHEMA, "raw_tms"})
    assert cycle_selection.record(database, "analytics", first) == first.newest

    _land(root, "dms/azureware/dbo/Orders/20261105-0100001111.csv")  # the WMS alone delivers
    assert load(database, str(root)).exit_code == EXIT_OK
    wms = cycle_selection.select(database, FULL, "analytics")
    assert wms.selector == WMS_ONLY and wms.newest[WMS_RAW_SCHEMA] > first.newest[WMS_RAW_SCHEMA]
    assert cycle_selection.record(database, "analytics", wms) == {WMS_RAW_SCHEMA: wms.newest[WMS_RAW_SCHEMA]}
    # another dbt schema on the same raw tables has its own marks: none yet
    assert cycle_selection.select(database, FULL, "dev_someone").selector == FULL

    _land(root, "tms/carriers/dt=2026-11-05/carriers-20261105.csv")  # then the TMS
    assert load(database, str(root)).exit_code == EXIT_OK
    tms = cycle_selection.select(database, FULL, "analytics")
    assert (tms.selector, tms.reason) == (FULL, "new data in raw_tms")
    # the nightly is never narrowed, and records every raw schema
    nightly = cycle_selection.select(database, "nightly", "analytics")
    assert nightly.selector == "nightly" and cycle_selection.record(database, "analytics", nightly) == nightly.newest
    assert cycle_selection.select(database, FULL, "analytics").selector == WMS_ONLY


def test_unreadable_marks_build_everything(monkeypatch):
    def broken(_settings):
        raise ConnectionError("the warehouse is down")

    monkeypatch.setattr(cycle_selection, "_warehouse", broken)
    chosen = cycle_selection.select(None, FULL, "analytics")  # type: ignore[arg-type]
    assert chosen.selector == FULL and "could not be read (ConnectionError)" in chosen.reason
    assert chosen.covered() == {}  # nothing read, nothing recorded after the build
    assert cycle_selection.record(None, "analytics", Selection(FULL, "", {WMS_RAW_SCHEMA: T})) == {}  # type: ignore


def test_redshift_reads_and_records_the_marks_with_valid_statements():
    from loaders.warehouse.redshift import DataApi, RedshiftConfig, RedshiftWarehouse

    submitted: list[list[str]] = []

    def answer(sqls: list[str], _params: dict) -> Answer:
        submitted.append(sqls)
        if "svv_tables" in sqls[0]:
            return Answer(rows=[[1]])
        if "load_batches" in sqls[0]:
            return Answer(rows=[["raw_tms.shipments", "2026-12-06 12:00:00.000001"],
                                ["raw_tms.tracking_events", "2026-12-06 11:00:00"],
                                [None, "2026-12-06 13:00:00"]])  # a batch of quarantines only
        if "build_marks" in sqls[0] and sqls[0].startswith("SELECT"):
            return Answer(rows=[["raw_tms", "2026-12-06 12:00:00"]])
        return Answer()

    config = RedshiftConfig("unify", "arn:aws:iam::123456789012:role/copy", "s3://bucket/_unify/manifests",
                            workgroup="glc-serverless", secret_arn="arn:aws:secretsmanager:us-east-1:1:secret:x",
                            poll_s=0.01)
    warehouse = RedshiftWarehouse(config, DataApi(FakeRedshiftData(answer), config, sleep=lambda s: None), None)
    assert warehouse.newest_batches() == {"raw_tms": datetime(2026, 12, 6, 12, 0, 0, 1)}
    assert warehouse.build_marks("analytics") == {"raw_tms": datetime(2026, 12, 6, 12, 0, 0)}
    assert choose(warehouse.newest_batches(), warehouse.build_marks("analytics")).selector == FULL
    warehouse.record_build_marks("analytics", {"raw_tms": datetime(2026, 12, 6, 12, 0, 0, 1)})
    create, delete, insert = submitted[-1]  # one transaction
    assert create.startswith('CREATE TABLE IF NOT EXISTS "unify_loader"."build_marks"')
    assert delete.endswith("\"dbt_schema\" = 'analytics' AND \"raw_schema\" IN ('raw_tms')")
    assert "CAST('2026-12-06 12:00:00.000001' AS TIMESTAMP)" in insert
    for statements in submitted:
        for statement in statements:
            assert not isinstance(sqlglot.parse_one(statement, read="redshift"), sqlglot.exp.Command), statement
