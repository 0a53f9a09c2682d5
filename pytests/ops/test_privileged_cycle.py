"""A production-shaped cycle on the local warehouse: a target that is not `local`, so the build runs with
ordinary privileges and the privileged step runs afterwards as another identity, then the SPICE refresh.

PostgreSQL stands in for Redshift as in pytests/access/test_least_privilege.py: a profile whose targets
are `dev` (a fresh non-superuser login holding the transformer role, its own schema), `dev_admin` (the
warehouse's superuser: on PostgreSQL only a table's owner or a superuser may manage its policies) and
`dev_noadmin` (a login with no rights: an admin identity that cannot do the job). The cycle takes the
production S3 lock, reads the PII key's vault installed from Secrets Manager, assumes the admin's IAM role
through STS, starts QuickSight ingestions and publishes its alert, all on moto's server over HTTP.

  1. admin target dev_noadmin: the build succeeds, the privileged step fails -> the cycle fails (exit 1),
     the alert names the step, the SPICE refresh does not run, and readers are refused the row-secured
     tables the build made (fail closed), never shown their rows without a policy;
  2. admin target dev_admin, QuickSight configured: the cycle succeeds, readers read through their
     policies (an account manager exactly her clients, finance every row), and the refresh ran after
     the access step, one ingestion per data set the dashboards read.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import replace
from pathlib import Path

import boto3
import psycopg2
import pytest
import yaml
from ops_hooks import PINNED
from support import pinned_env, query, sns_topic_with_queue

from unify.access import create_logins, mapping_login_plan
from unify.cycle import CycleOptions, run_cycle

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("dbt_project.yml", "selectors.yml", "models", "macros", "seeds", "snapshots", "tests", "analyses")
ACCOUNT = "123456789012"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/unify-test-access-admin"


def _summary(result) -> dict:
    return json.loads(json.dumps(result.summary(), default=str))


def _read(settings, login: str, sql: str):
    conn = psycopg2.connect(settings.dsn(user=login))
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def privileged(cycles, s3_endpoint, tmp_path_factory):
    from psycopg2 import sql

    from unify.pii_key import fetch_secret_key, install_key, load_target, transformer_role
    from unify.quicksight import deploy
    from unify.quicksight.resources import load_config

    settings = cycles.settings
    token = uuid.uuid4().hex[:8]
    schema, login, noadmin, prefix = f"dev_{token}", f"ops_dev_{token}", f"ops_noadmin_{token}", f"o{token}:"
    base = tmp_path_factory.mktemp("privileged")
    project = base / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, project / name)
    output = {"type": "postgres", "host": settings.pg_host, "port": settings.pg_port, "dbname": settings.pg_database,
              "schema": schema, "threads": 4, "password": ""}
    (project / "profiles.yml").write_text(yaml.safe_dump({"unify": {"target": "dev", "outputs": {
        "dev": {**output, "user": login}, "dev_admin": {**output, "user": settings.pg_user},
        "dev_noadmin": {**output, "user": noadmin}}}}))
    _execute(settings, sql.SQL("create role {} login in role unify_transformer").format(sql.Identifier(login)),
             sql.SQL("create role {} login").format(sql.Identifier(noadmin)),
             sql.SQL("grant create on database {} to {}").format(sql.Identifier(settings.pg_database),
                                                                 sql.Identifier(login)))
    bucket = f"unify-test-artifacts-{token}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    secret_id = f"unify-test-{token}-pii-hash-key"
    boto3.client("secretsmanager").create_secret(Name=secret_id, SecretString=uuid.uuid4().hex + uuid.uuid4().hex)
    topic_arn, received = sns_topic_with_queue(s3_endpoint)
    env = {**PINNED, "UNIFY_SCHEMA": schema, "UNIFY_PG_DATABASE": settings.pg_database,
           "UNIFY_PII_KEY_SECRET_ID": secret_id, "UNIFY_ACCESS_USER_NAME_PREFIX": prefix,
           "UNIFY_ACCESS_ADMIN_ROLE_ARN": ADMIN_ROLE}
    project_settings = replace(settings, root=project)
    logins: dict[str, list[str]] = {}
    steps = {}

    def cycle(name: str, **more_env: str) -> dict:
        with pinned_env(**env, **more_env):
            result = run_cycle(project_settings, CycleOptions(
                cycle="frequent", load=False, dbt_target="dev", target_path=base / "frequent", capture_dbt=True,
                environment="test", topic_arn=topic_arn, lock_url=f"s3://{bucket}/cycles/test/lock.json"))
        steps[name] = {"summary": _summary(result), "messages": received()}
        return steps[name]

    try:
        # the runbook's order on a new environment: the key installed by the admin, then cycles
        with pinned_env(**env):
            target = load_target(project, project, "dev_admin")
            install_key(target, fetch_secret_key(secret_id), transformer_role(project))
        cycle("noadmin", UNIFY_ACCESS_ADMIN_TARGET="dev_noadmin")
        logins = mapping_login_plan(settings, schema)
        create_logins(settings, logins)
        steps["noadmin"]["reads"] = _reader_probe(settings, schema, logins)
        # moto keeps QuickSight per region, and the dashboards' tests deploy to the spec's: a region of our own
        with pinned_env(UNIFY_QUICKSIGHT_ACCOUNT_ID=ACCOUNT, UNIFY_QUICKSIGHT_REGION="us-west-2"):
            config = load_config(ACCOUNT)
            client = deploy.client_for(config)
            # moto has no list_data_sets: the orphan search is limited to what it lists (test_quicksight.py)
            deploy.apply(client, deploy.plan(config, client, orphan_kinds=("dashboard", "data_source")), say=print)
            steps["data_set_ids"] = deploy.data_set_ids(config)
            cycle("admin", UNIFY_ACCESS_ADMIN_TARGET="dev_admin")
        steps["admin"]["reads"] = _reader_probe(settings, schema, logins)
        steps["schema"], steps["logins"] = schema, logins
        yield steps
    finally:
        schemas = [n for (n,) in query(settings, "select nspname from pg_namespace where nspname like %s",
                                       (schema + "%",))]
        _execute(settings, *[sql.SQL("drop schema {} cascade").format(sql.Identifier(n)) for n in schemas],
                 *[sql.SQL("revoke all on database {} from {}").format(sql.Identifier(settings.pg_database),
                                                                       sql.Identifier(r))
                   for r in (login, noadmin) if query(settings, "select 1 from pg_roles where rolname = %s", (r,))],
                 *[sql.SQL("drop role if exists {}").format(sql.Identifier(r)) for r in [login, noadmin, *logins]])


def _execute(settings, *statements) -> None:
    """Statements committed one by one, as the warehouse's superuser (roles, grants, drops)."""
    conn = psycopg2.connect(settings.dsn())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def _reader_probe(settings, schema: str, logins: dict[str, list[str]]) -> dict:
    """What an account manager and finance get from a row-secured table the build replaces every cycle
    (dim_client), from the incremental fct_orders and from a table that is not row-secured (dim_date)."""
    manager = next(user for user, roles in logins.items() if roles == ["unify_account_manager"]
                   and query(settings, f"select count(*) from {schema}_access.access_client_grants "
                                       "where user_name = %s", (user,))[0][0])
    finance = next(user for user, roles in logins.items() if roles == ["unify_finance"])
    reads = {"manager": manager}
    for who, login in (("manager", manager), ("finance", finance)):
        for table in ("dim_client", "fct_orders", "dim_date"):
            try:
                rows = _read(settings, login, f"select distinct client_id from {schema}_marts.{table}"
                             if table != "dim_date" else f"select count(*) from {schema}_marts.dim_date")
                reads[(who, table)] = sorted(r[0] for r in rows)
            except psycopg2.errors.InsufficientPrivilege:
                reads[(who, table)] = "denied"
    reads["granted"] = sorted(c for (c,) in query(settings, f"select distinct client_id from "
                                                            f"{schema}_access.access_client_grants where user_name = %s",
                                                  (manager,)))
    reads["all"] = sorted(c for (c,) in query(settings, f"select distinct client_id from {schema}_marts.dim_client"))
    return reads


def test_a_failing_privileged_step_fails_the_cycle_alerts_and_keeps_readers_out(privileged):
    step = privileged["noadmin"]
    summary, steps = step["summary"], step["summary"]["steps"]
    assert steps["build"]["status"] == "ok", steps["build"]  # the build needed no admin right
    assert (summary["outcome"], summary["exit_code"], summary["CycleFailed"]) == ("failed", 1, 1)
    assert steps["access"]["status"] == "failed"
    assert "apply_access --target dev_noadmin" in steps["access"]["error"]
    assert "permission denied" in steps["access"]["error"]
    assert f"assumed-role/unify-test-access-admin/unify-cycle-{summary['run_id']}" in steps["access"]["error"]
    assert steps["quicksight_refresh"] == {"status": "skipped", "seconds": 0.0, "reason": "step access failed"}
    assert list(steps) == ["load", "build", "freshness", "access", "quicksight_refresh", "alert"]
    [envelope] = step["messages"]
    assert envelope["MessageAttributes"]["severity"]["Value"] == "error"
    assert "cycle step access" in envelope["Message"] and "permission denied" in envelope["Message"]
    # fail closed: the row-secured tables the build made are refused, never read without their policy
    reads = step["reads"]
    for who in ("manager", "finance"):
        assert reads[(who, "dim_client")] == "denied" and reads[(who, "fct_orders")] == "denied"
        assert reads[(who, "dim_date")][0] > 0  # not row-secured: granted by the build itself


def test_the_privileged_step_as_the_admin_lets_readers_read_through_their_policies(privileged, cycles):
    step = privileged["admin"]
    summary, steps = step["summary"], step["summary"]["steps"]
    assert (summary["outcome"], summary["exit_code"]) == ("succeeded", 0), steps
    access = steps["access"]
    assert access["status"] == "ok" and access["admin_target"] == "dev_admin"
    assert access["assumed_role"].endswith(f":assumed-role/unify-test-access-admin/unify-cycle-{summary['run_id']}")
    artifacts = Path(steps["build"]["artifacts"])
    manifest = json.loads((artifacts / "manifest.json").read_text())
    # the step secures every row-secured table that exists, whichever cycle built it: the first cycle built
    # every one but finance's monthly models (the nightly's), this one only what moves with time (nothing
    # was loaded in between: unify/cycle_selection.py)
    built = {r["unique_id"] for r in json.loads((artifacts / "run_results.json").read_text())["results"]
             if r["status"] == "success"}
    row_secured = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"
                   and (n["config"].get("meta") or {}).get("rls_client_column")]
    existing = [n for n in row_secured if query(cycles.settings, "select to_regclass(%s) is not null",
                                                (f'"{n["schema"]}"."{n["alias"]}"',))[0][0]]
    assert access["tables"] == len(existing) >= 9
    assert 0 < len(built & {n["unique_id"] for n in existing}) < len(existing)
    reads = step["reads"]
    assert reads["granted"] and reads["granted"] != reads["all"]
    assert reads[("manager", "dim_client")] == reads["granted"]
    assert reads[("manager", "fct_orders")] == [c for c in reads["granted"] if c in reads[("finance", "fct_orders")]]
    assert reads[("finance", "dim_client")] == reads["all"]
    assert step["messages"] == []


def test_spice_is_refreshed_after_the_access_step_where_quicksight_is_configured(privileged, cycles):
    steps = privileged["admin"]["summary"]["steps"]
    assert list(steps).index("access") < list(steps).index("quicksight_refresh")
    refresh = steps["quicksight_refresh"]
    assert refresh["status"] == "ok"
    assert refresh["started"] == sorted(privileged["data_set_ids"]) and len(refresh["started"]) == 6
    assert refresh["already_started"] == [] and refresh["ingestion_id"].startswith("unify-cycle-")
    assert refresh["slot_minutes"] == 60
    # locally (no QuickSight account) the step says why it did nothing
    local = cycles.steps["A"].summary["steps"]
    assert local["quicksight_refresh"]["status"] == "skipped"
    assert "QuickSight is not configured here" in local["quicksight_refresh"]["reason"]
    assert local["access"]["status"] == "skipped" and "local target" in local["access"]["reason"]
