"""Who needs what on Redshift: every statement a build and the privileged step send, per target, offline.

The helpers (redshift_access_render.py) run dbt for the profile template's Redshift targets with an
adapter that never connects: `invoke` runs whole commands (`dbt run`, `dbt run-operation apply_access`)
and records every statement a cluster would receive; `render` renders single macros. Offline every
catalog query answers "nothing exists yet" (svv_roles, svv_rls_policy, ...), unless the test answers
it (the key vault is installed; the models are built), so the statements are those of a first run on a
fresh cluster. sqlglot's Redshift dialect parses the statements it supports (GRANT, REVOKE, the
policy's predicate); RLS statements it keeps as commands, compared as text.

Who needs what (AWS: "RLS policy ownership and management", "Amazon Redshift system-defined roles",
GRANT): creating roles, IGNORE RLS, creating/attaching RLS policies, switching row-level security on and
granting a lookup table to a policy need sys:secadmin or a superuser; revoking CREATE on schema public
and setting another user's default privileges need a superuser (public's owner); grants on raw schemas
need their owner (the loader) or a superuser. A table's owner may create it, grant it, and drop it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from redshift_access_render import Answer, RenderError, invoke, render, vault_answers
from sqlglot import exp

ROOT = Path(__file__).resolve().parents[2]
READER_ROLES = ["unify_analyst", "unify_finance", "unify_account_manager", "unify_executive", "unify_quicksight"]
READERS = ", ".join(f"role {r}" for r in READER_ROLES)
POLICY = "analytics_access__client_id_rows_v1"
MAPPING = '"analytics_access"."access_client_grants"'
ADMIN = "IAMR:unify-access-admin"
ROW_SECURED = {"dim_client", "dim_contract", "dim_product", "fct_orders", "fct_order_lines", "fct_shipments",
               "fct_client_profitability_monthly", "rpt_client_profitability_monthly", "rpt_sla_breach_risk"}
# Statements only a security admin (sys:secadmin) or a superuser may run, and why.
NEEDS_ADMIN = [
    (r"^create role ", "sys:secadmin"),
    (r"^grant ignore rls ", "sys:secadmin"),
    (r"^(create|attach|detach|drop|alter) rls policy ", "sys:secadmin"),
    (r" row level security (on|off)", "sys:secadmin"),
    (r" to rls policy ", "sys:secadmin"),
    (r"^(grant|revoke) .* on schema public ", "superuser (owner of schema public)"),
    (r"^alter default privileges for user ", "superuser"),
    (r'^(grant|revoke|alter default privileges).* schema "(raw_\w+|unify_loader)"', "the loader (raw's owner) or a superuser"),
]
RAW_SCHEMAS = [["raw_azureware"], ["raw_salesforce"], ["raw_tms"], ["unify_loader"]]
FCT_ORDERS = "api.Relation.create(database='unify', schema='analytics_marts', identifier='fct_orders', type='table')"
SNIPPETS = {
    "roles": "{{ unify.create_access_roles_sql() }}",
    "build_roles_hook": "{{ unify.create_access_roles() }}",
    "raw": "{{ unify.raw_schema_access_sql(['raw_azureware']) }}",
    "schema_usage": "{{ unify.grant_schema_usage(['analytics_marts', 'analytics_reporting']) }}",
    "table_rls": f"{{{{ unify.client_row_security_sql({FCT_ORDERS}, 'client_id', ref('access_client_grants')) }}}}",
    "mapping": "{{ unify.access_lookup_security_sql(ref('access_client_grants')) }}",
    "grants": f"{{% do apply_grants({FCT_ORDERS}, {{'select': ['unify_analyst', 'user:auditor']}}, "
              "should_revoke=True) %}select 1",
}


def statements(sql: str) -> list[str]:
    return [" ".join(s.split()) for s in sql.split(";") if s.strip()]


def parse(statement: str) -> exp.Expression:
    return sqlglot.parse_one(statement, read="redshift")


def admin_only(statement: str) -> list[str]:
    """Why `statement` needs a security admin or a superuser (empty: a table owner may run it)."""
    text = " ".join(statement.lower().split())
    return [who for pattern, who in NEEDS_ADMIN if re.search(pattern, text)]


def sent(run, node: str | None = None) -> list[str]:
    """The statements a run sent (split on ';'), optionally of one node."""
    out = []
    for item in run.statements:
        if node is None or item["node"] == node:
            out.extend(statements(item["sql"]))
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return render(ROOT, tmp_path_factory.mktemp("redshift-access"), SNIPPETS)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """`dbt run` offline for each Redshift target, the key vault answered as installed."""
    return {target: invoke(ROOT, tmp_path_factory.mktemp(f"run-{target}"), ["run"], target=target,
                           answers=vault_answers(), env={"UNIFY_ACCESS_ADMIN_DB_USER": ADMIN})
            for target in ("dev", "ci", "prod")}


@pytest.fixture(scope="module")
def privileged_step(tmp_path_factory):
    """`dbt run-operation apply_access` offline for prod, every model built and the raw schemas present."""
    raw = Answer(r"select schema_name from information_schema\.schemata where schema_name in", ["schema_name"],
                 RAW_SCHEMAS)
    return invoke(ROOT, tmp_path_factory.mktemp("apply"), ["run-operation", "apply_access"], target="prod",
                  answers=[*vault_answers(), raw], built=True)


def test_a_build_on_any_redshift_target_needs_no_security_admin(builds):
    """dev, ci and prod builds send nothing that needs sys:secadmin or a superuser, create and grant only
    in their own schemas, and never grant a reader role a row-secured table."""
    for target, run in builds.items():
        assert run.success, f"{target}: {run.message}"
        sql = sent(run)
        assert any(s.startswith("create table") for s in sql), f"{target}: the run built nothing"
        privileged = {s: admin_only(s) for s in sql if admin_only(s)}
        assert not privileged, f"{target}: {privileged}"
        schema = {"dev": None, "ci": None, "prod": "analytics"}[target]
        created = set(re.findall(r'create schema if not exists "(\w+)"', " ".join(sql)))
        assert created and len({c.rsplit("_", 1)[0] for c in created}) == 1, created  # one target schema
        if schema:
            assert {c.rsplit("_", 1)[0] for c in created} == {schema}
        for model in ROW_SECURED:
            grants = [s for s in sent(run, f"model.unify.{model}") if s.startswith("grant ")]
            assert grants, f"{target}: {model} was not granted to the transformer"
            for grant in grants:
                assert not any(f"role {r}" in grant.lower() for r in READER_ROLES), f"{target}: {grant}"


def test_builds_let_the_security_admin_grant_readers_after_the_policy(builds):
    """With UNIFY_ACCESS_ADMIN_DB_USER, each row-secured table (and the mapping) is granted to the admin
    WITH GRANT OPTION by its owner: sys:secadmin alone cannot grant another user's table."""
    sql = sent(builds["prod"])
    for model in ROW_SECURED:
        grant = f'grant select on "analytics_{"reporting" if model.startswith("rpt_") else "marts"}"."{model}" ' \
                f'to "{ADMIN}" with grant option'
        assert grant in sql, model
    assert f'grant select on {MAPPING} to "{ADMIN}" with grant option' in sql
    assert isinstance(parse(f'grant select on {MAPPING} to "{ADMIN}" with grant option'), exp.Grant)


def test_a_build_without_the_key_installed_fails_before_building_anything(tmp_path):
    run = invoke(ROOT, tmp_path, ["run"], target="prod")  # the vault answers "does not exist"
    assert not run.success
    assert "No PII key installed for target 'prod'" in run.message
    assert "unify access install-pii-key --target prod" in run.message
    assert not [s for s in sent(run) if s.startswith(("create table", "create view", "insert", "delete"))]


def test_compile_for_prod_without_a_configured_key_fails_with_a_clear_message(tmp_path):
    run = invoke(ROOT, tmp_path, ["compile"], target="prod", env={"UNIFY_PII_KEY_SECRET_ID": None})
    assert not run.success
    assert "PII key not configured for target 'prod': set UNIFY_PII_KEY_SECRET_ID" in run.message


def test_the_privileged_step_secures_each_table_before_granting_readers(privileged_step):
    run = privileged_step
    assert run.success, run.message
    sql = sent(run)
    assert "create role unify_transformer" in sql and "grant ignore rls to role unify_transformer" in sql
    assert "revoke create on schema public from public" in sql
    assert 'grant usage, create on schema "raw_azureware" to role unify_loader' in sql
    create_policy = sql.index(
        f"create rls policy {POLICY} with (client_id integer) as rls_rows using (rls_rows.client_id in "
        f"(select g.client_id from {MAPPING} as g where g.user_name = current_user))")
    assert sql.index(f"grant select on {MAPPING} to rls policy {POLICY}") > create_policy
    for model in ROW_SECURED:
        table = f'"analytics_{"reporting" if model.startswith("rpt_") else "marts"}"."{model}"'
        attach = sql.index(f"attach rls policy {POLICY} on {table} to {READERS}")
        rls_on = sql.index(f"alter table {table} row level security on")
        readers = [i for i, s in enumerate(sql) if s.startswith(f"grant select on {table} to ")]
        assert readers and all(i > rls_on > attach > create_policy for i in readers), model
        grant = parse(sql[readers[0]])
        assert isinstance(grant, exp.Grant)
        assert {p.sql("redshift") for p in grant.args["principals"]} <= {f"ROLE {r}" for r in READER_ROLES}
    privileged = [s for s in sql if admin_only(s)]
    assert len(privileged) > len(ROW_SECURED) * 2  # the step is where the admin-only statements went


def test_roles_are_created_when_missing_and_the_transformer_ignores_rls(rendered):
    assert rendered["roles"].executed == [
        "select role_name from svv_roles where role_name in ('unify_loader', 'unify_transformer', "
        "'unify_analyst', 'unify_finance', 'unify_account_manager', 'unify_executive', 'unify_quicksight')"]
    assert statements(rendered["roles"].sql) == [
        "create role unify_loader", "create role unify_transformer", "create role unify_analyst",
        "create role unify_finance", "create role unify_account_manager", "create role unify_executive",
        "create role unify_quicksight", "grant ignore rls to role unify_transformer"]
    assert rendered["build_roles_hook"].sql.strip() == "" and rendered["build_roles_hook"].executed == []


def test_raw_schemas_are_closed_to_all_but_loader_and_transformer(rendered):
    others = f"public, {READERS}"
    expected = [
        f'revoke all on schema "raw_azureware" from {others}',
        f'revoke all on all tables in schema "raw_azureware" from {others}',
        'grant usage, create on schema "raw_azureware" to role unify_loader',
        'grant usage on schema "raw_azureware" to role unify_transformer',
        'grant select, insert on all tables in schema "raw_azureware" to role unify_loader',
        'grant select on all tables in schema "raw_azureware" to role unify_transformer',
        f'alter default privileges in schema "raw_azureware" revoke all on tables from {others}',
        'alter default privileges in schema "raw_azureware" grant select, insert on tables to role unify_loader',
        'alter default privileges in schema "raw_azureware" grant select on tables to role unify_transformer',
    ]
    got = statements(rendered["raw"].sql)
    assert got == expected
    assert all(admin_only(s) for s in got)  # raw is the loader's: the privileged step does this
    parsed = {s: parse(s) for s in got}
    revoke = parsed[expected[0]]
    assert isinstance(revoke, exp.Revoke)
    assert [p.sql("redshift") for p in revoke.args["principals"]] == ["public"] + [
        f"ROLE {r.split()[1]}" for r in READERS.split(", ")]
    grant = parsed[expected[2]]
    assert isinstance(grant, exp.Grant) and grant.sql("redshift") == \
        'GRANT USAGE, CREATE ON SCHEMA "raw_azureware" TO ROLE unify_loader'


def test_schema_usage_follows_the_models_grants(rendered):
    got = statements(rendered["schema_usage"].sql)
    everyone = ("public, role unify_loader, role unify_transformer, role unify_analyst, role unify_finance, "
                "role unify_account_manager, role unify_executive, role unify_quicksight")
    assert got == [
        'revoke all on schema "analytics_marts" from public, role unify_loader, role unify_executive, '
        "role unify_quicksight",
        'grant usage on schema "analytics_marts" to role unify_transformer, role unify_analyst, '
        "role unify_finance, role unify_account_manager",
        f'alter default privileges in schema "analytics_marts" revoke all on tables from {everyone}',
        'revoke all on schema "analytics_reporting" from public, role unify_loader',
        'grant usage on schema "analytics_reporting" to role unify_transformer, role unify_analyst, '
        "role unify_finance, role unify_account_manager, role unify_executive, role unify_quicksight",
        f'alter default privileges in schema "analytics_reporting" revoke all on tables from {everyone}',
    ]
    assert not [s for s in got if admin_only(s)]  # dbt's own schemas: their owner may do this
    for statement in got[:2] + got[3:5]:
        assert isinstance(parse(statement), (exp.Grant, exp.Revoke)), statement


def test_client_table_gets_the_policy_attached_to_reader_roles_and_rls_on(rendered):
    assert rendered["table_rls"].executed == [
        f"select polname from svv_rls_policy where polname = '{POLICY}'",
        "select grantee from svv_rls_attached_policy where relschema = 'analytics_marts' and relname = "
        f"'fct_orders' and polname = '{POLICY}' and granteekind = 'role'",
        "select is_rls_on from svv_rls_relation where relschema = 'analytics_marts' and relname = 'fct_orders'",
    ]
    create, grant, attach, rls_on = statements(rendered["table_rls"].sql)
    assert create == (
        f"create rls policy {POLICY} with (client_id integer) as rls_rows using (rls_rows.client_id in "
        f"(select g.client_id from {MAPPING} as g where g.user_name = current_user))")
    assert grant == f"grant select on {MAPPING} to rls policy {POLICY}"
    assert attach == f'attach rls policy {POLICY} on "analytics_marts"."fct_orders" to {READERS}'
    assert rls_on == 'alter table "analytics_marts"."fct_orders" row level security on'
    assert all(admin_only(s) for s in (create, grant, attach, rls_on))
    # sqlglot has no RLS statements; the predicate is SQL it can check: a set membership on an
    # uncorrelated subquery of the mapping (no per-row function), filtered on current_user.
    predicate = re.search(r"using \((.*)\)$", create).group(1)
    query = parse(f"select 1 from analytics_marts.fct_orders as rls_rows where {predicate}")
    membership = query.find(exp.In)
    assert membership is not None and membership.this.sql() == "rls_rows.client_id"
    subquery = membership.args["query"].this
    assert [t.sql("redshift") for t in subquery.find_all(exp.Table)] == ['"analytics_access"."access_client_grants" AS g']
    assert subquery.find(exp.CurrentUser) is not None
    assert not [c for c in subquery.find_all(exp.Column) if c.table == "rls_rows"], "the subquery is uncorrelated"


def test_mapping_creates_the_policy_before_tables_attach_it(rendered):
    assert statements(rendered["mapping"].sql) == statements(rendered["table_rls"].sql)[:2]


def test_grants_config_grants_roles_on_redshift(rendered):
    """dbt's own grants machinery (dbt-redshift with redshift_grants_extended), through the project's
    override: bare names in the grants config are roles, `user:` entries stay users."""
    show, grant = rendered["grants"].executed
    assert show.startswith("select identity_name, identity_type, privilege_type from svv_relation_privileges")
    assert " ".join(grant.rstrip(" ;").split()) == \
        'grant select on "unify"."analytics_marts"."fct_orders" to ROLE unify_analyst, auditor'
    assert isinstance(parse(grant.rstrip(" ;")), exp.Grant)


def test_a_render_error_carries_dbts_message(tmp_path):
    with pytest.raises(RenderError, match="PII key not configured"):
        render(ROOT, tmp_path, {"x": "select 1"}, env={"UNIFY_PII_KEY_SECRET_ID": None})
