"""The Redshift SQL the access macros emit, rendered for the `prod` Redshift target with no connection (as
the quality gate compiles: redshift_access_render.py) and compared with the statements the Redshift
documentation prescribes; sqlglot's Redshift dialect parses those it supports (GRANT, REVOKE on
schemas and tables, the policy's predicate), the rest it keeps as commands and they are compared as text.

Offline, every catalog query answers "nothing exists yet" (svv_roles, svv_rls_policy, ...), so the
render shows the full set of statements a first run on a fresh cluster executes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from redshift_access_render import render
from sqlglot import exp

ROOT = Path(__file__).resolve().parents[2]
READERS = "role unify_analyst, role unify_finance, role unify_account_manager, role unify_executive, role unify_quicksight"
POLICY = "analytics_access__client_id_rows_v1"
MAPPING = '"analytics_access"."access_client_grants"'
FCT_ORDERS = "api.Relation.create(database='unify', schema='analytics_marts', identifier='fct_orders', type='table')"
SNIPPETS = {
    "roles": "{{ unify.create_access_roles() }}",
    "raw": "{{ unify.raw_schema_access_sql(['raw_azureware']) }}",
    "schema_usage": "{{ unify.grant_schema_usage(['analytics_marts', 'analytics_reporting']) }}",
    "table_rls": f"{{{{ unify.client_row_security_sql({FCT_ORDERS}, 'client_id', ref('access_client_grants')) }}}}",
    "mapping": "{{ unify.access_lookup_security_sql(ref('access_client_grants')) }}",
    "grants": f"{{% do apply_grants({FCT_ORDERS}, {{'select': ['unify_analyst', 'user:auditor']}}, "
              "should_revoke=True) %}select 1",
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return render(ROOT, tmp_path_factory.mktemp("redshift-access"), SNIPPETS)


def statements(sql: str) -> list[str]:
    return [" ".join(s.split()) for s in sql.split(";") if s.strip()]


def parse(statement: str) -> exp.Expression:
    return sqlglot.parse_one(statement, read="redshift")


def test_roles_are_created_when_missing_and_the_transformer_ignores_rls(rendered):
    assert rendered["roles"].executed == [
        "select role_name from svv_roles where role_name in ('unify_loader', 'unify_transformer', "
        "'unify_analyst', 'unify_finance', 'unify_account_manager', 'unify_executive', 'unify_quicksight')"]
    assert statements(rendered["roles"].sql) == [
        "create role unify_loader", "create role unify_transformer", "create role unify_analyst",
        "create role unify_finance", "create role unify_account_manager", "create role unify_executive",
        "create role unify_quicksight", "grant ignore rls to role unify_transformer"]


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
    parsed = {s: parse(s) for s in got}
    # sqlglot models schema-level GRANT/REVOKE: check what it understood, grantee by grantee.
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
