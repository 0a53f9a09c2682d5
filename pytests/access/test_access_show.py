"""`unify access show <user>`: the first answer of a security review, read from the warehouse catalogs."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys

from access_support import EXECUTIVE, FINANCE, SALES_DIRECTOR

from unify.simulate.reference import ACCOUNT_MANAGERS


def unify(secured, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, UNIFY_PG_DATABASE=secured.settings.pg_database, UNIFY_SCHEMA="analytics")
    return subprocess.run([sys.executable, "-m", "unify.cli", "access", "show", *args], env=env, text=True,
                          capture_output=True, cwd=secured.settings.root)


def test_show_lists_roles_schemas_and_the_clients_the_policy_lets_through(secured):
    login = ACCOUNT_MANAGERS[0].username
    user = secured.user(login)
    proc = unify(secured, user, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [(r["role"], r["direct"]) for r in report["roles"]] == [("unify_account_manager", True)]
    usage = {s["schema"]: s["usage"] for s in report["schemas"]}
    assert usage["analytics_marts"] and usage["analytics_reporting"]
    assert not any(usage[s] for s in ("raw_azureware", "raw_salesforce", "raw_tms", "analytics_staging"))
    # The clients it reports are the ones the policy actually lets this login see.
    seen = {c for (c,) in secured.query("select distinct client_id from analytics_marts.dim_client", login=login)}
    assert {c["client_id"] for c in report["clients"]} == seen and seen
    assert not report["all_clients"] and report["client_count"] > len(seen)
    secured_tables = {t["table"]: t for t in report["row_secured"]}
    assert "analytics_marts.fct_orders" in secured_tables
    assert secured_tables["analytics_marts.fct_orders"]["policies"] and not secured_tables["analytics_marts.fct_orders"]["all_rows"]

    text = unify(secured, user)
    assert text.returncode == 0
    for expected in ("unify_account_manager (granted directly)", "analytics_marts", "fct_orders: filtered by ["):
        assert expected in text.stdout, text.stdout
    # Each policy is printed once (#15.4), not once per table: the client policy covers every table.
    client_policy = secured_tables["analytics_marts.fct_orders"]["policies"][0]
    assert text.stdout.count(client_policy) == 1, text.stdout
    number = re.search(r"\[(\d+)\] unify_client_rows: ", text.stdout).group(1)
    assert text.stdout.count(f"filtered by [{number}]") == len(secure_table_names(report))


def secure_table_names(report: dict) -> list[str]:
    return [t["table"] for t in report["row_secured"] if not t["table"].endswith(".access_client_grants")]


def test_show_tells_every_client_no_client_and_no_such_user(secured):
    shown = unify(secured, secured.user(FINANCE), "--json")
    assert shown.returncode == 0, shown.stderr
    finance = json.loads(shown.stdout)
    every_client = {c for (c,) in secured.query("select client_id from analytics_staging.stg_azureware__clients")}
    assert finance["all_clients"] and {c["client_id"] for c in finance["clients"]} == every_client
    executive = json.loads(unify(secured, secured.user(EXECUTIVE), "--json").stdout)
    assert not {s["schema"]: s["usage"] for s in executive["schemas"]}["analytics_marts"]
    unmapped = unify(secured, secured.user(SALES_DIRECTOR))
    assert unmapped.returncode == 0 and "NO rows: the mapping grants no client" in unmapped.stdout
    missing = unify(secured, secured.user("nobody@glc.example"))
    assert missing.returncode == 1 and "not a user or role" in missing.stderr


def test_local_logins_recreates_a_missing_person_with_their_teams_role(secured):
    """`unify access local-logins` (run by the demo): every person in the mapping can log in with their
    team's role, so `psql -U <them>` shows their rows. Idempotent: existing logins are left as they are."""
    from psycopg2 import sql

    from unify.access import create_local_logins

    login = ACCOUNT_MANAGERS[1].username
    user = secured.user(login)
    secured.execute(sql.SQL("drop role {}").format(sql.Identifier(user)))
    assert secured.query("select count(*) from pg_roles where rolname = %s", (user,)) == [(0,)]

    pairs = create_local_logins(secured.settings, "analytics")
    assert (user, "unify_account_manager") in pairs
    assert (secured.user(FINANCE), "unify_finance") in pairs
    assert secured.query("select pg_has_role(%s, 'unify_account_manager', 'member')", (user,)) == [(True,)]
    mapped = {c for (c,) in secured.query(
        "select client_id from analytics_access.access_client_grants where user_name = %s", (user,))}
    seen = {c for (c,) in secured.query("select distinct client_id from analytics_marts.fct_orders", login=login)}
    assert seen == mapped and seen
    users = [u for u, _ in pairs]
    oids = secured.query("select rolname, oid from pg_roles where rolname = any(%s) order by 1", (users,))
    assert create_local_logins(secured.settings, "analytics") == pairs  # a second run changes nothing:
    assert secured.query("select rolname, oid from pg_roles where rolname = any(%s) order by 1", (users,)) == oids
