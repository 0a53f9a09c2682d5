"""QuickSight as code: every request checked offline against botocore's QuickSight service model, the
row-level security wiring checked against the warehouse's own (the models' yml), and the calls moto
5.2.5 implements exercised on moto's server over HTTP.

moto implements QuickSight groups, data sources (create, describe, update, list, delete), data sets
(create only), ingestions (create only: it keeps none), dashboards (create, describe, list) and tags;
describe_data_set, update_data_set, list_data_sets, delete_data_set, update_dashboard, delete_dashboard
and the *_permissions calls it does not, so those are checked offline only.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import botocore.session
import pytest
import yaml
from botocore.validate import validate_parameters

from unify.dashboards.spec import load_spec
from unify.quicksight import deploy
from unify.quicksight.exposures import check_exposures
from unify.quicksight.refresh import (DEFAULT_REFRESHES_PER_DAY, QUOTA_PER_DAY, RefreshConfigError, refresh_slot,
                                      refreshes_per_day)
from unify.quicksight.resources import RULES_RENAMES, VIEWER_DASHBOARD_ACTIONS, build_resources, load_config

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
SERVICE = botocore.session.get_session().get_service_model("quicksight")


def _validate(op: str, params: dict) -> None:
    validate_parameters(params, SERVICE.operation_model(deploy._camel(op)).input_shape)


@pytest.fixture
def config():
    return load_config(ACCOUNT, env={})


def test_every_request_passes_botocore_validation(config):
    resources = build_resources(config)
    assert {r.kind for r in resources} == {"group", "data_source", "data_set", "dashboard"}
    calls = 0
    for r in resources:
        _validate(r.create_op, r.request)
        _validate(deploy.DESCRIBE_OP[r.kind], deploy.identity(r))
        if r.kind != "group":
            _validate("list_tags_for_resource", {"ResourceArn": r.arn})
            _validate(deploy.PERMISSIONS_OP[r.kind][0], deploy.identity(r))
        for op, params in deploy.update_requests(r, SERVICE):
            _validate(op, params)
            calls += 1
    assert calls == 3 * sum(r.kind != "group" for r in resources)
    for r in resources:  # what prune sends for a resource the spec no longer has
        if r.kind in deploy.DELETE_OP:
            _validate(deploy.DELETE_OP[r.kind], deploy.identity(r))
    for op, _key, _id in deploy.LIST_OP.values():
        _validate(op, {"AwsAccountId": ACCOUNT})
        _validate(op, {"AwsAccountId": ACCOUNT, "NextToken": "page-2"})
    slot = refresh_slot(datetime(2026, 12, 6, 9, 37, tzinfo=timezone.utc), DEFAULT_REFRESHES_PER_DAY)
    _validate("create_ingestion", {"AwsAccountId": ACCOUNT, "DataSetId": "x", "IngestionId": slot.ingestion_id,
                                   "IngestionType": "FULL_REFRESH"})
    _validate("update_dashboard_published_version", {"AwsAccountId": ACCOUNT, "DashboardId": "x", "VersionNumber": 2})


def test_a_wrong_request_fails_the_same_validation(config):
    """The check above can fail: a data set with a column type QuickSight does not know is refused."""
    from botocore.exceptions import ParamValidationError

    data_set = next(r for r in build_resources(config) if r.kind == "data_set")
    table = next(iter(data_set.request["PhysicalTableMap"].values()))["RelationalTable"]
    table["InputColumns"][0]["Type"] = 7
    with pytest.raises(ParamValidationError):
        _validate("create_data_set", data_set.request)


def _warehouse_client_scoped() -> set[str]:
    """Reporting models the warehouse row-secures (their yml's meta.rls_client_column), read here."""
    models = yaml.safe_load((ROOT / "models" / "reporting" / "_reporting__models.yml").read_text())["models"]
    return {m["name"] for m in models if (m.get("config", {}).get("meta") or {}).get("rls_client_column")}


def test_rules_data_set_is_attached_to_every_client_scoped_data_set_and_to_no_other(config):
    data_sets = {next(iter(r.request["PhysicalTableMap"])): r for r in build_resources(config) if r.kind == "data_set"}
    rules = data_sets.pop("rpt_quicksight_rls_rules")
    assert "RowLevelPermissionDataSet" not in rules.request
    attached = {t for t, r in data_sets.items() if "RowLevelPermissionDataSet" in r.request}
    assert attached == _warehouse_client_scoped() & set(data_sets) and attached == set(data_sets)
    for table in attached:
        rls = data_sets[table].request["RowLevelPermissionDataSet"]
        assert rls == {"Namespace": "default", "Arn": rules.arn, "PermissionPolicy": "GRANT_ACCESS",
                       "FormatVersion": "VERSION_1", "Status": "ENABLED"}
        columns = {c["Name"]: c["Type"] for c in
                   data_sets[table].request["PhysicalTableMap"][table]["RelationalTable"]["InputColumns"]}
        assert columns["client_key"] == "STRING", "QuickSight matches rules on text fields"
    # the rules: UserName, GroupName and client_key, all text, renamed from Redshift's lower-case names
    physical = rules.request["PhysicalTableMap"]["rpt_quicksight_rls_rules"]["RelationalTable"]
    assert physical["InputColumns"] == [{"Name": "username", "Type": "STRING"}, {"Name": "groupname", "Type": "STRING"},
                                        {"Name": "client_key", "Type": "STRING"}]
    logical = rules.request["LogicalTableMap"]["rpt_quicksight_rls_rules"]
    renames = [t["RenameColumnOperation"] for t in logical["DataTransforms"]]
    assert {r["ColumnName"]: r["NewColumnName"] for r in renames} == RULES_RENAMES == {"username": "UserName",
                                                                                       "groupname": "GroupName"}


def test_dashboards_are_the_spec_with_viewer_permissions_for_their_audience(config):
    spec = load_spec()
    dashboards = {r.id: r for r in build_resources(config) if r.kind == "dashboard"}
    for d in spec.dashboards:
        r = dashboards[config.dashboard_id(d)]
        definition = r.request["Definition"]
        [sheet] = definition["Sheets"]
        ids = [next(iter(v.values()))["VisualId"] for v in sheet["Visuals"]]
        assert ids == [v.id for v in d.visuals]
        assert [x["Identifier"] for x in definition["DataSetIdentifierDeclarations"]] == d.datasets()
        viewers = {p["Principal"].rsplit("/", 1)[1] for p in r.request["Permissions"]
                   if p["Actions"] == VIEWER_DASHBOARD_ACTIONS}
        assert viewers == {config.groups[role] for role in d.audience}
        scoped = {}
        for g in definition["FilterGroups"]:
            [scope] = g["ScopeConfiguration"]["SelectedSheets"]["SheetVisualScopingConfigurations"]
            scoped[g["FilterGroupId"]] = set(scope["VisualIds"])
        for f in d.filters.values():
            assert scoped[f"{d.id}.{f.id}"] == {v.id for v in d.visuals if f.id in v.filters}
        for calc in definition["CalculatedFields"]:
            assert calc["Expression"].count("sum(") == 2, "ratios are ratios of sums"
    ops = dashboards["glc-operations-health"].request["Definition"]
    top = [g for g in ops["FilterGroups"] if g["FilterGroupId"].endswith(".top")]
    assert [g["Filters"][0]["TopBottomFilter"]["Limit"] for g in top] == [20]


def test_exposures_and_analyses_are_in_step_with_the_spec(config):
    from unify.dashboards.queries import check_analyses

    assert check_exposures(config, ROOT) == []
    assert check_analyses(load_spec(), ROOT / "analyses") == []
    exposures = {}
    for d in load_spec().dashboards:
        [exposure] = yaml.safe_load((ROOT / d.exposure_file).read_text())["exposures"]
        exposures[d.id] = exposure
        assert exposure["url"] == config.dashboard_url(d)
        assert all(ref.startswith("ref('rpt_") for ref in exposure["depends_on"]), "QuickSight reads reporting only"


# moto lists dashboards and data sources, not data sets: the moto tests search those for orphans only
MOTO_LISTS = ("dashboard", "data_source")


def test_deploy_on_moto_creates_everything_and_a_second_plan_changes_nothing_moto_can_describe(s3_endpoint, config):
    client = deploy.client_for(config, endpoint_url=s3_endpoint)
    first = deploy.plan(config, client, MOTO_LISTS)
    assert {c.action for c in first} == {"create"}
    done = deploy.apply(client, first, say=print)
    assert len(done) == len(first) == 14
    source = client.describe_data_source(AwsAccountId=ACCOUNT, DataSourceId="glc-redshift-analytics")["DataSource"]
    assert source["Type"] == "REDSHIFT"
    assert source["DataSourceParameters"]["RedshiftParameters"]["ClusterId"] == "glc-analytics"
    listed = {d["DashboardId"] for d in client.list_dashboards(AwsAccountId=ACCOUNT)["DashboardSummaryList"]}
    assert listed == {"glc-operations-health", "glc-client-profitability"}
    groups = {g["GroupName"] for g in client.list_groups(AwsAccountId=ACCOUNT, Namespace="default")["GroupList"]}
    assert groups == set(config.groups.values())
    refreshed = deploy.refresh_data_sets(config, client)
    assert len(refreshed) == 6 and all(status == "INITIALIZED" for _id, _ingestion, status in refreshed)
    again = {c.resource.id: c.action for c in deploy.plan(config, client, MOTO_LISTS)}
    describable = {k: v for k, v in again.items() if not k.startswith("glc-rpt-")}
    assert set(describable.values()) == {"unchanged"}, describable
    # moto has no describe_data_set: the data sets look missing to it (on AWS they are found and compared)
    assert {v for k, v in again.items() if k.startswith("glc-rpt-")} == {"create"}
    # a changed configuration is an update of exactly what it changes
    changed = load_config(ACCOUNT, env={"UNIFY_QUICKSIGHT_DATA_SOURCE_HOST": "new-host.example"})
    updates = {c.resource.id: c.action for c in deploy.plan(changed, client, MOTO_LISTS)
               if c.resource.kind != "data_set"}
    assert updates["glc-redshift-analytics"] == "update"
    assert {a for k, a in updates.items() if k != "glc-redshift-analytics"} == {"unchanged"}


def test_plan_on_a_fresh_clone_without_aws_lists_every_resource(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true")
    proc = subprocess.run([str(Path(sys.executable).with_name("unify")), "quicksight", "plan"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines() if line.startswith("  create")]
    kinds = [words[1] for words in lines]
    assert kinds.count("group") == 5 and kinds.count("data_source") == 1
    assert kinds.count("data_set") == 6 and kinds.count("dashboard") == 2
    assert "14 resources in eu-west-1: 14 to create" in proc.stdout


def test_plan_lists_what_deploy_made_and_the_spec_dropped_and_prune_deletes_it(s3_endpoint):
    """A dashboard taken out of the spec and a data source renamed: plan lists the old ones as deletes (they
    carry deploy's tag), never a resource made by hand; deploy deletes them only with --prune."""
    account, region = ACCOUNT, "eu-central-1"  # moto keeps a region per account: this test's own
    config = load_config(account, env={"UNIFY_QUICKSIGHT_REGION": region})
    client = deploy.client_for(config, endpoint_url=s3_endpoint)
    deploy.apply(client, deploy.plan(config, client, MOTO_LISTS), say=print)
    client.create_data_source(AwsAccountId=account, DataSourceId="made-by-hand", Name="a console user's",
                              Type="ATHENA", DataSourceParameters={"AthenaParameters": {"WorkGroup": "primary"}})
    smaller = dataclasses.replace(config.spec, dashboards=config.spec.dashboards[:1])
    changed = load_config(account, spec=smaller, env={"UNIFY_QUICKSIGHT_REGION": region,
                                                      "UNIFY_QUICKSIGHT_DATA_SOURCE_ID": "glc-redshift-reporting"})
    changes = deploy.plan(changed, client, MOTO_LISTS)
    deletes = {(c.resource.kind, c.resource.id) for c in changes if c.action == "delete"}
    dropped = config.dashboard_id(config.spec.dashboards[1])
    assert deletes == {("dashboard", dropped), ("data_source", "glc-redshift-analytics")}
    assert [c.resource.id for c in changes if c.action == "delete"] == [dropped, "glc-redshift-analytics"]  # users first
    assert next(c for c in changes if c.resource.id == "glc-redshift-reporting").action == "create"
    for change in changes:
        if change.action == "delete":
            _validate(change.resource.create_op, change.resource.request)

    def sources() -> set[str]:
        return {d["DataSourceId"] for d in client.list_data_sources(AwsAccountId=account)["DataSources"]}

    # moto can delete data sources (not dashboards): apply the data source changes, without and with prune
    data_source_changes = [c for c in changes if c.resource.kind == "data_source"]
    deploy.apply(client, data_source_changes, say=print)
    assert sources() == {"glc-redshift-analytics", "glc-redshift-reporting", "made-by-hand"}
    deploy.apply(client, data_source_changes[1:], say=print, prune=True)
    assert sources() == {"glc-redshift-reporting", "made-by-hand"}
    again = deploy.plan(changed, client, ("data_source",))
    assert [c for c in again if c.action == "delete"] == []


def test_refresh_slots_keep_every_24_hours_within_quicksights_quota():
    """Ingestion ids name the slot: any 24 hours touch at most per_day + 1 slots, within the 32 QuickSight
    allows, with the default one hour long."""
    assert refreshes_per_day({}) == DEFAULT_REFRESHES_PER_DAY == 24
    for bad in ("0", str(QUOTA_PER_DAY), "many"):
        with pytest.raises(RefreshConfigError, match="from 1 to 31"):
            refreshes_per_day({"UNIFY_QUICKSIGHT_REFRESHES_PER_DAY": bad})
    start = datetime(2026, 12, 6, tzinfo=timezone.utc)
    for per_day in (24, 30, 31, 7):
        ids = [refresh_slot(start + timedelta(minutes=m), per_day).ingestion_id for m in range(3 * 24 * 60)]
        most = max(len(set(ids[m:m + 24 * 60])) for m in range(0, 2 * 24 * 60, 7))
        assert most <= per_day + 1 <= QUOTA_PER_DAY, (per_day, most)
    slot = refresh_slot(datetime(2026, 12, 6, 9, 59, 59, tzinfo=timezone.utc), 24)
    assert (slot.ingestion_id, slot.minutes) == ("unify-cycle-20261206T0900", 60)
    assert refresh_slot(datetime(2026, 12, 6, 10, 0, tzinfo=timezone.utc), 24).ingestion_id == "unify-cycle-20261206T1000"


def test_a_slot_already_refreshed_is_left_alone(config):
    """QuickSight refuses an ingestion id a data set already has (ResourceExistsException, as CreateIngestion
    documents): the cycle's refresh counts that data set as already started and goes on. moto keeps no
    ingestions, so botocore's Stubber plays QuickSight's documented answer here; any other error fails."""
    from botocore.stub import Stubber

    client = deploy.client_for(config)
    ids = deploy.data_set_ids(config)
    with Stubber(client) as stub:
        for i, data_set_id in enumerate(ids):
            params = {"AwsAccountId": ACCOUNT, "DataSetId": data_set_id, "IngestionId": "unify-cycle-20261206T0900",
                      "IngestionType": "FULL_REFRESH"}
            if i % 2:
                stub.add_client_error("create_ingestion", "ResourceExistsException", http_status_code=409,
                                      expected_params=params)
            else:
                stub.add_response("create_ingestion", {"Status": 201, "IngestionStatus": "INITIALIZED"}, params)
        results = deploy.refresh_data_sets(config, client, ingestion_id="unify-cycle-20261206T0900")
    assert [status for _id, _ingestion, status in results] == ["INITIALIZED", "EXISTS"] * (len(ids) // 2)
    with Stubber(client) as stub:
        stub.add_client_error("create_ingestion", "LimitExceededException", http_status_code=429)
        with pytest.raises(deploy.QuickSightDeployError, match="LimitExceededException"):
            deploy.refresh_data_sets(config, client, ingestion_id="unify-cycle-20261206T1000")
