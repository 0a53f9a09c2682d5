"""Row-level security, enforced by the local warehouse, as the people it is for (FR-4, NFR-4).

Every test logs in as a real (non-superuser) login named like a simulated Salesforce user and counts
what it sees; the expected client sets come from the staging data through an independent Python
rendering of the rule (account owner of the client's account), never from the policy under test.
"""

from __future__ import annotations

import psycopg2
import pytest
from access_support import (ANALYST, EXECUTIVE, FINANCE, INTEGRATION, LOADER, QUICKSIGHT_SERVICE, SALES_DIRECTOR,
                            TRANSFORMER, UNMAPPED_ANALYST, Secured, expected_owned_clients, rows_by_client)

from unify.dbt_runner import run_dbt
from unify.simulate.reference import ACCOUNT_MANAGERS

MANAGERS = [u.username for u in ACCOUNT_MANAGERS]


def assert_account_managers_see_exactly_their_clients(secured: Secured) -> None:
    owned = expected_owned_clients(secured)
    models = secured.row_secured_models()
    assert set(MANAGERS) & set(owned), "the simulation must give some account manager a client"
    for login in MANAGERS:
        mine = owned.get(login, set())
        mapped = {c for (c,) in secured.query(
            "select client_id from analytics_access.access_client_grants where user_name = %s",
            (secured.user(login),))}
        assert mapped == mine, f"mapping of {login}"
        for model, relation in models.items():
            seen = rows_by_client(secured, relation, login)
            assert seen == rows_by_client(secured, relation, only=mine), f"{login} in {model}"


def test_every_client_scoped_table_is_row_secured(secured):
    """The catalog, not the config: every marts/reporting table with a client_id has RLS on, except the
    documented exemption (the QuickSight rules dataset, which only the QuickSight service reads)."""
    models = secured.row_secured_models()
    assert {"fct_orders", "fct_order_lines", "fct_shipments", "dim_client", "dim_contract", "dim_product",
            "fct_client_profitability_monthly", "rpt_client_profitability_monthly",
            "rpt_sla_breach_risk"} <= set(models)
    tables = secured.query(
        """
        select n.nspname || '.' || c.relname, c.relrowsecurity
        from pg_class as c
        inner join pg_namespace as n on n.oid = c.relnamespace
        inner join pg_attribute as a on a.attrelid = c.oid and a.attname = 'client_id' and not a.attisdropped
        where n.nspname in ('analytics_marts', 'analytics_reporting') and c.relkind = 'r'
        """)
    open_tables = sorted(t for t, secured_on in tables if not secured_on)
    assert open_tables == ["analytics_reporting.rpt_quicksight_rls_rules"]
    assert sorted(t for t, on in tables if on) == sorted(models.values())
    readers = {r for (r,) in secured.query(
        "select grantee from information_schema.role_table_grants where table_schema = 'analytics_reporting' "
        "and table_name = 'rpt_quicksight_rls_rules' and privilege_type = 'SELECT'")}
    assert readers == {"unify_quicksight", "unify_transformer", secured.settings.pg_user}


def test_account_managers_see_exactly_their_clients(secured):
    assert_account_managers_see_exactly_their_clients(secured)


def test_finance_analysts_and_quicksight_see_every_client_row(secured):
    models = secured.row_secured_models()
    for login in (FINANCE, ANALYST, QUICKSIGHT_SERVICE):
        for model, relation in models.items():
            if login == QUICKSIGHT_SERVICE and not relation.startswith("analytics_reporting."):
                continue  # the QuickSight service reads reporting models only
            total, with_client = secured.query(f"select count(*), count(client_id) from {relation}")[0]
            (seen,) = secured.query(f"select count(*) from {relation}", login=login)[0]
            # Rows without a client (a contract whose account matches no WMS client) belong to no
            # client anyone is mapped to: deny by default hides them from every reader.
            assert seen == with_client, f"{login} in {model}: {seen} of {total}"
            assert with_client > 0 or model == "rpt_sla_breach_risk", f"{model} is empty: nothing proven"


def test_executive_reads_reporting_every_client_but_no_marts(secured):
    for model, relation in secured.row_secured_models().items():
        if relation.startswith("analytics_reporting."):
            (seen,) = secured.query(f"select count(*) from {relation}", login=EXECUTIVE)[0]
            assert seen == secured.query(f"select count(client_id) from {relation}")[0][0]
        else:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                secured.query(f"select count(*) from {relation}", login=EXECUTIVE)


def test_unmapped_users_see_no_rows(secured):
    """Users who may read the tables (their role) but are in no mapping see nothing: deny by default."""
    for login in (SALES_DIRECTOR, UNMAPPED_ANALYST):
        assert secured.query("select count(*) from analytics_marts.dim_date", login=login)[0][0] > 0
        for model, relation in secured.row_secured_models().items():
            assert secured.query(f"select count(*) from {relation}", login=login)[0][0] == 0, f"{login} {model}"


def test_transformer_reads_every_row(secured):
    for model, relation in secured.row_secured_models().items():
        (seen,) = secured.query(f"select count(*) from {relation}", login=TRANSFORMER)[0]
        assert seen == secured.query(f"select count(*) from {relation}")[0][0], model


def test_quicksight_rules_give_each_viewer_what_the_warehouse_gives_them(secured):
    """The rules dataset, read with QuickSight's semantics (empty client_id = every client; no rule =
    nothing), equals what each person's login sees in the warehouse."""
    all_clients = {c for (c,) in secured.query("select client_id from analytics_marts.dim_client")}
    rules: dict[str, set[int]] = {}
    for user, group, client in secured.query(
            'select "UserName", "GroupName", client_id from analytics_reporting.rpt_quicksight_rls_rules',
            login=QUICKSIGHT_SERVICE):
        assert group is None
        rules.setdefault(user, set()).update(all_clients if client is None else {client})
    assert QUICKSIGHT_SERVICE not in rules, "a service account is no dashboard viewer"
    viewers = [login for login in secured.logins if login not in (QUICKSIGHT_SERVICE, LOADER, TRANSFORMER)]
    for login in viewers:
        if login == INTEGRATION:  # no warehouse role at all: refused, and no rule either
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                secured.query("select 1 from analytics_reporting.rpt_client_profitability_monthly", login=login)
            in_warehouse = set()
        else:
            in_warehouse = {c for (c,) in secured.query(
                "select distinct client_id from analytics_reporting.rpt_client_profitability_monthly",
                login=login)}
        assert rules.get(login, set()) == in_warehouse, login
    assert rules[FINANCE] == all_clients
    assert rules.get(SALES_DIRECTOR) is None and rules.get(INTEGRATION) is None
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        secured.query("select count(*) from analytics_reporting.rpt_quicksight_rls_rules", login=ANALYST)


def test_policy_runs_once_per_query_and_leaves_indexes_usable(secured):
    """The policy's mapping subquery is evaluated once per query (a hashed subplan or a semi-join, never
    a subplan per row), and a reader's own filter on an indexed column still uses the index."""
    import json

    login = MANAGERS[0]
    secured.execute("create index if not exists fct_orders_client_id_test on analytics_marts.fct_orders (client_id)")
    conn = secured.connect(login)
    try:
        with conn.cursor() as cur:
            cur.execute("set enable_seqscan = off")  # tiny tables: make the planner show what it *can* use
            cur.execute("explain (format json) select count(*) from analytics_marts.fct_orders where client_id = 1")
            plan = cur.fetchone()[0]
    finally:
        conn.close()
    nodes, conditions = [], []

    def walk(node: dict) -> None:
        nodes.append(node)
        conditions.extend(str(node[key]) for key in ("Filter", "Join Filter", "Hash Cond") if key in node)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    text = json.dumps(plan)
    assert any(n.get("Index Name") == "fct_orders_client_id_test" for n in nodes), text
    assert any(n.get("Relation Name") == "access_client_grants" for n in nodes), text
    references = [c for c in conditions if "SubPlan" in c]
    assert "Semi Join" in text or (references and all(
        c.count("SubPlan") == c.count("hashed SubPlan") for c in references)), text


def test_policies_hold_after_full_refresh_and_incremental_run(secured):
    """A full refresh rebuilds every table (new tables: policies re-applied by the post-hook); an
    incremental run keeps the tables and re-applies idempotently. Both leave the same visibility."""
    oids = """select c.relname, c.oid from pg_class as c inner join pg_namespace as n on n.oid = c.relnamespace
              where n.nspname || '.' || c.relname = any(%s)"""
    relations = list(secured.row_secured_models().values())
    before = dict(secured.query(oids, (relations,)))
    mapping = secured.query(oids, (["analytics_access.access_client_grants"],))
    run_dbt(["build", "--full-refresh"], secured.settings, target_path=secured.target_path,
            env=secured.env(), capture=True)
    rebuilt = dict(secured.query(oids, (relations,)))
    assert all(rebuilt[name] != before[name] for name in rebuilt), "every table was rebuilt"
    # ...except the mapping the policies read (full_refresh: false): Redshift cannot drop it.
    assert secured.query(oids, (["analytics_access.access_client_grants"],)) == mapping
    assert_account_managers_see_exactly_their_clients(secured)
    run_dbt(["run", "--select", "config.materialized:incremental"], secured.settings,
            target_path=secured.target_path, env=secured.env(), capture=True)
    after = dict(secured.query(oids, (relations,)))
    incremental = {"fct_orders", "fct_order_lines", "fct_shipments"}
    assert {name for name in after if after[name] == rebuilt[name]} >= incremental, "ran in place"
    assert_account_managers_see_exactly_their_clients(secured)
    test_unmapped_users_see_no_rows(secured)


def test_a_client_scoped_model_without_the_rls_line_fails_the_build(secured, tmp_path):
    """The folder post-hook refuses a model with a client_id column and no row-level security line:
    here the QuickSight rules dataset with its `rls_exempt` line taken away. The build fails and, the
    hook running inside dbt's transaction, the table already there is left as it was."""
    import dataclasses
    import shutil

    from unify.dbt_runner import DbtError

    project = tmp_path / "project"
    shutil.copytree(secured.settings.root, project, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".unify", "target", "logs", "pytests", "*.egg-info", "__pycache__"))
    yml = project / "models" / "reporting" / "_reporting__models.yml"
    text = yml.read_text()
    assert text.count("rls_exempt:") == 1
    yml.write_text(text.replace("rls_exempt:", "note:"))
    (oid_before,) = secured.query("select 'analytics_reporting.rpt_quicksight_rls_rules'::regclass::oid")[0]
    with pytest.raises(DbtError) as failure:
        run_dbt(["run", "--select", "rpt_quicksight_rls_rules"], dataclasses.replace(secured.settings, root=project),
                target_path=tmp_path / "target", env=secured.env(), capture=True)
    assert "has a client_id column but no row-level security" in str(failure.value)
    assert secured.query("select 'analytics_reporting.rpt_quicksight_rls_rules'::regclass::oid")[0] == (oid_before,)
