"""The access probe (#14 acceptance): every person × every relation, the known escape attempts, and
statistics inference, against what DOMAIN.md "Who sees what" allows; it reports its counts and 0 leaks.

The expectation is computed here, independently of the grants config and the policies under test:
- tables by layer and role (DOMAIN.md): raw and the load ledger are the loader's and the transformer's;
  the key vault, staging, intermediate, snapshots and seeds the transformer's; marts are read by
  analysts, finance and account managers; reporting by them, executives and QuickSight; the QuickSight
  rules dataset by QuickSight only. An account manager may read only client-scoped tables (whose rows
  row-level security narrows to their clients) and tables that hold no client's data (NON_CLIENT):
  a cross-client aggregate is not theirs.
- rows: an account manager sees the clients whose Salesforce account they own (computed in Python from
  staging, access_support.expected_owned_clients); the people and services of seeds/access_team_grants.csv
  the clients it names (an empty code: every client); anyone else none. Rows without a client: nobody.
- the mapping: each reader their own rows.

A leak is a relation readable that should not be, or a row of a client not allowed; an over-denial the
opposite. Escapes are attempts to read more than allowed by other paths; statistics inference asks
EXPLAIN's estimates, as a reader with no clients, about every client-identifying column of every
row-secured table, and counts any estimate that differs between clients (it would reveal their counts).
"""

from __future__ import annotations

import collections
import csv
import io
from pathlib import Path

import psycopg2
from access_support import FINANCE, SALES_DIRECTOR, Secured, expected_owned_clients, rows_by_client

from unify.simulate.reference import ACCOUNT_MANAGERS

ROOT = Path(__file__).resolve().parents[2]
READER_ROLES = {"unify_analyst", "unify_finance", "unify_account_manager", "unify_executive", "unify_quicksight"}
LAYER_READERS = {
    "analytics_marts": {"unify_analyst", "unify_finance", "unify_account_manager"},
    "analytics_reporting": {"unify_analyst", "unify_finance", "unify_account_manager", "unify_executive",
                            "unify_quicksight"},
}
NON_CLIENT = {"dim_date", "dim_warehouse", "dim_carrier", "dim_account_manager"}  # no client's data in them
QUICKSIGHT_ONLY = {"rpt_quicksight_rls_rules"}
PRIVILEGE = (psycopg2.errors.InsufficientPrivilege,)


def relations(secured: Secured) -> list[tuple[str, str, bool, bool]]:
    """(schema, name, has client_id, row-level security on) of every table and view the pipeline made."""
    return secured.query(
        """
        select n.nspname, c.relname,
               exists (select 1 from pg_attribute as a where a.attrelid = c.oid and a.attname = 'client_id'
                       and not a.attisdropped),
               c.relrowsecurity
        from pg_class as c inner join pg_namespace as n on n.oid = c.relnamespace
        where c.relkind in ('r', 'v', 'm', 'p')
        and (n.nspname like 'analytics\\_%%' or n.nspname like 'raw\\_%%' or n.nspname = 'unify_loader')
        order by 1, 2
        """)


def expected_table(roles: set[str], schema: str, table: str, client_scoped: bool) -> bool:
    if "unify_transformer" in roles:
        return True
    if schema.startswith("raw_") or schema == "unify_loader":
        return "unify_loader" in roles
    if schema == "analytics_access":
        return bool(roles & READER_ROLES)
    if schema not in LAYER_READERS:
        return False  # staging, intermediate, snapshots, seeds, the key vault
    if table in QUICKSIGHT_ONLY:
        return "unify_quicksight" in roles
    readers = roles & LAYER_READERS[schema]
    if not readers:
        return False
    if readers == {"unify_account_manager"}:
        return client_scoped or table in NON_CLIENT
    return True


def expected_clients(secured: Secured) -> dict[str, set[int]]:
    """login -> clients whose rows they may see (transformer excluded: every row)."""
    codes = dict(secured.query("select client_code, client_id from analytics_staging.stg_azureware__clients"))
    allowed: dict[str, set[int]] = {login: set() for login in secured.logins}
    for login, clients in expected_owned_clients(secured).items():
        allowed.setdefault(login, set()).update(clients)
    with (ROOT / "seeds" / "access_team_grants.csv").open() as seed:
        for row in csv.DictReader(seed):
            allowed.setdefault(row["user_name"].lower(), set()).update(
                set(codes.values()) if not row["client_code"] else {codes[row["client_code"]]})
    return allowed


def test_probe_reports_no_leak(secured):
    plan = secured.logins
    allowed = expected_clients(secured)
    rels = relations(secured)
    assert len(rels) > 40 and any(s == "analytics_pii" for s, *_ in rels)
    probes, leaks, over_denials = 0, [], []
    for login, roles in plan.items():
        roles = set(roles)
        for schema, table, has_client, rls in rels:
            relation = f"{schema}.{table}"
            client_scoped = has_client and rls
            probes += 1
            should = expected_table(roles, schema, table, client_scoped)
            try:
                (count,), = secured.query(f'select count(*) from "{schema}"."{table}"', login=login)
            except PRIVILEGE:
                if should:
                    over_denials.append(f"{login} cannot read {relation}")
                continue
            if not should:
                leaks.append(f"{login} reads {relation} ({count} rows)")
                continue
            if "unify_transformer" in roles or not client_scoped:  # every row (rls_exempt tables too)
                total = secured.query(f'select count(*) from "{schema}"."{table}"')[0][0]
                if count != total:
                    (leaks if count > total else over_denials).append(f"{login} sees {count} of {total} rows of {relation}")
                continue
            if schema == "analytics_access":
                own = secured.query(f"select count(*) from {relation} where user_name = %s", (secured.user(login),))[0][0]
                if count != own:
                    (leaks if count > own else over_denials).append(f"{login} sees {count} mapping rows, own {own}")
                continue
            seen = rows_by_client(secured, relation, login)
            want = rows_by_client(secured, relation, only=allowed.get(login, set()))
            extra = {c for c in seen if c not in want or seen[c] > want[c]}
            missing = {c for c in want if seen.get(c, 0) < want[c]}
            if extra:
                leaks.append(f"{login} sees clients {sorted(extra, key=str)} in {relation}")
            if missing:
                over_denials.append(f"{login} misses clients {sorted(missing)} in {relation}")
    print(f"access probe: {probes} person x relation probes ({len(plan)} people and services, {len(rels)} "
          f"relations): {len(leaks)} leaks, {len(over_denials)} over-denials")
    assert probes == len(plan) * len(rels)
    assert not leaks, leaks
    assert not over_denials, over_denials


def escape_attempts(secured: Secured, login: str, own: int, total: int) -> tuple[int, list[str]]:
    """Attempts by `login` to read more of analytics_marts.fct_orders than its own `own` rows (of `total`):
    returns (attempts, escapes). An attempt is refused for lack of privilege, or shows at most `own`."""
    attempts, escapes = 0, []
    conn = secured.connect(login)
    cur = conn.cursor()

    def refused(statement: str) -> None:
        nonlocal attempts
        attempts += 1
        try:
            cur.execute(statement)
        except PRIVILEGE:
            return
        except psycopg2.Error as err:  # failing for another reason hides whether privilege would stop it
            escapes.append(f"{statement!r} failed with {type(err).__name__}, not for privilege")
            return
        escapes.append(f"{statement!r} was allowed")

    def at_most_own(statement: str, count_rows=lambda rows: rows[0][0]) -> None:
        nonlocal attempts
        attempts += 1
        cur.execute(statement)
        seen = count_rows(cur.fetchall())
        if seen > own:
            escapes.append(f"{statement!r} showed {seen} rows (own {own})")

    fct, mapping = "analytics_marts.fct_orders", "analytics_access.access_client_grants"
    for statement in (
        "select count(*) from raw_azureware.orders", "select count(*) from analytics_staging.stg_azureware__orders",
        "select inner_key from analytics_pii.pii_hash_key", "set role unify_finance", "set role postgres",
        "set session authorization postgres", f"alter table {fct} disable row level security",
        f"alter table {fct} no force row level security", f"drop policy unify_client_rows on {fct}",
        f"create policy mine on {fct} for select using (true)", f"alter policy unify_client_rows on {fct} using (true)",
        f"alter table {fct} owner to \"{secured.user(login)}\"",
        f"truncate {fct}", f"delete from {fct}", f"update {fct} set client_id = client_id",
        f"create index on {fct} (client_id)",
        f"insert into {mapping} (user_name, login_name, client_id, grant_source) select '{secured.user(login)}', "
        f"'{login}', client_id, 'account_owner' from {fct}",
        f"create view analytics_marts.all_orders as select * from {fct}",
        "create function pg_temp.leaky(integer) returns boolean language sql leakproof as 'select true'",
    ):
        refused(statement)
    cur.execute("begin")  # LOCK needs a transaction
    refused(f"lock table {fct} in access exclusive mode")
    cur.execute("rollback")
    # GRANT by a non-owner only warns ("no privileges were granted"): check that nothing was granted
    attempts += 1
    cur.execute(f"grant select on {fct} to public")
    cur.execute(f"select count(*) from aclexplode((select relacl from pg_class where oid = '{fct}'::regclass)) "
                "where grantee = 0")
    if cur.fetchone()[0]:
        escapes.append(f"grant select on {fct} to public granted it")
    cur.execute("set row_security = off")  # allowed to set; querying a filtered table then errors
    refused(f"select count(*) from {fct}")
    cur.execute("reset row_security")
    at_most_own(f"select count(*) from {fct}")
    at_most_own(f"select count(*) from {mapping} where user_name <> current_user", lambda rows: rows[0][0] + own)
    at_most_own(f"select count(*) from pg_stats where schemaname = 'analytics_marts' and tablename = 'fct_orders'",
                lambda rows: rows[0][0] * total)  # any statistics row of a filtered table is a leak
    cur.execute(f"create temporary view all_orders as select * from {fct}")
    at_most_own("select count(*) from all_orders")
    cur.execute(f"create function pg_temp.count_all() returns bigint language sql security definer "
                f"as 'select count(*) from {fct}'")
    at_most_own("select pg_temp.count_all()")
    cur.execute(f"create temporary table copied as select * from {fct}")
    at_most_own("select count(*) from copied")
    at_most_own(f"explain (analyze, format json) select * from {fct}",
                lambda rows: rows[0][0][0]["Plan"]["Actual Rows"])
    # COPY TO applies the policy as SELECT does
    attempts += 1
    buffer = io.StringIO()
    cur.copy_expert(f"copy {fct} to stdout", buffer)
    if buffer.getvalue().count("\n") > own:
        escapes.append(f"COPY {fct} TO STDOUT wrote {buffer.getvalue().count(chr(10))} rows (own {own})")
    # A function the planner may not push below the policy (not leakproof) sees only visible rows
    cur.execute("create function pg_temp.peek(integer) returns boolean language plpgsql cost 0.0000001 as "
                "$$ begin raise notice 'peek %', $1; return true; end $$")
    attempts += 1
    conn.notices = collections.deque()  # psycopg2 keeps only the last 50 notices in a list
    cur.execute(f"select count(*) from {fct} where pg_temp.peek(order_id::integer)")
    peeked = [n for n in conn.notices if "peek" in n]
    if len(peeked) > own:
        escapes.append(f"a non-leakproof function saw {len(peeked)} rows (own {own})")
    conn.close()
    return attempts, escapes


def shared_object_attempts(secured: Secured, login: str, clients: set[int], total: int) -> tuple[int, list[str]]:
    """Objects that run with their owner's rights: a view and a SECURITY DEFINER function in a schema the
    manager owns still show only the manager's rows (the owner is the manager), and a view that finance
    (every client) owns and shares with the manager shows the manager only their rows: the policy
    filters on current_user, the reader."""
    own = sum(rows_by_client(secured, "analytics_marts.fct_orders", only=clients).values())
    escapes = []
    sandbox = f"sandbox_{secured.prefix[1:-1]}"
    secured.execute(f'create schema {sandbox} authorization "{secured.user(login)}"')
    conn = secured.connect(login)
    with conn.cursor() as cur:
        cur.execute(f"create view {sandbox}.all_orders as select * from analytics_marts.fct_orders")
        cur.execute(f"create function {sandbox}.count_all_orders() returns bigint language sql security definer "
                    "as 'select count(*) from analytics_marts.fct_orders'")
        cur.execute(f"select (select count(*) from {sandbox}.all_orders), {sandbox}.count_all_orders()")
        view, function = cur.fetchone()
    conn.close()
    escapes += [f"{login}: own view showed {view} of {own}"] * (view != own)
    escapes += [f"{login}: own SECURITY DEFINER function counted {function} of {own}"] * (function != own)
    finance_sandbox = f"sandbox_finance_{secured.prefix[1:-1]}"
    secured.execute(f'create schema {finance_sandbox} authorization "{secured.user(FINANCE)}"')
    secured.execute(f"create view {finance_sandbox}.all_orders as select * from analytics_marts.fct_orders; "
                    f'grant usage on schema {finance_sandbox} to "{secured.user(login)}"; '
                    f'grant select on {finance_sandbox}.all_orders to "{secured.user(login)}"', login=FINANCE)
    assert secured.query(f"select count(*) from {finance_sandbox}.all_orders", login=FINANCE)[0][0] == total
    shared = secured.query(f"select count(*) from {finance_sandbox}.all_orders", login=login)[0][0]
    escapes += [f"{login}: finance's shared view showed {shared} of {own}"] * (shared != own)
    for schema in (sandbox, finance_sandbox):  # readers may create nothing anywhere else: leave no trace
        secured.execute(f"drop schema {schema} cascade")
    return 3, escapes


def test_escape_attempts_reveal_nothing(secured):
    """An account manager with clients, and one with none, try the usual ways around row-level security:
    other schemas, roles, policies, ownership, writes, locks, COPY, EXPLAIN ANALYZE, pg_stats, temporary
    views and tables, SECURITY DEFINER and non-leakproof functions, objects owned by others."""
    total = secured.query("select count(*) from analytics_marts.fct_orders")[0][0]
    owners = expected_owned_clients(secured)
    manager = next(u.username for u in ACCOUNT_MANAGERS if owners.get(u.username))
    attempts, escapes = 0, []
    for login, clients in ((manager, owners[manager]), (SALES_DIRECTOR, set())):
        own = sum(rows_by_client(secured, "analytics_marts.fct_orders", only=clients).values())
        assert own < total
        a, e = escape_attempts(secured, login, own, total)
        attempts, escapes = attempts + a, escapes + [f"{login}: {x}" for x in e]
    a, e = shared_object_attempts(secured, manager, owners[manager], total)
    attempts, escapes = attempts + a, escapes + e
    print(f"access probe: {attempts} escape attempts by 2 account managers: {len(escapes)} escapes")
    assert not escapes, escapes


def estimates(secured: Secured, login: str, relation: str, predicate: str, params: list[tuple]) -> set[float]:
    """EXPLAIN's estimated rows of `select 1 from relation where <predicate>` for each parameter tuple."""
    conn = secured.connect(login)
    try:
        with conn.cursor() as cur:
            found = set()
            for values in params:
                cur.execute(f"explain (format json) select 1 from {relation} where {predicate}", values)
                found.add(cur.fetchone()[0][0]["Plan"]["Plan Rows"])
            return found
    finally:
        conn.close()


def identifying_columns() -> set[str]:
    import yaml

    return set(yaml.safe_load((ROOT / "dbt_project.yml").read_text())["vars"]["access_client_identifying_columns"])


def client_statistics(secured: Secured) -> list[tuple]:
    """(table, column) of client-identifying columns of row-secured tables that have statistics or may get
    them (statistics target not 0)."""
    return secured.query(
        """
        select n.nspname || '.' || c.relname, a.attname
        from pg_class as c inner join pg_namespace as n on n.oid = c.relnamespace
        inner join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where c.relrowsecurity and n.nspname in ('analytics_marts', 'analytics_reporting') and a.attname = any(%s)
        and (exists (select 1 from pg_statistic as s where s.starelid = c.oid and s.staattnum = a.attnum)
             or a.attstattarget <> 0)
        """, (sorted(identifying_columns()),))


def identifying_in_secured_tables(secured: Secured) -> list[tuple[str, str]]:
    """(table, column) of every client-identifying column of every row-secured table."""
    return secured.query(
        """
        select n.nspname || '.' || c.relname, a.attname
        from pg_class as c inner join pg_namespace as n on n.oid = c.relnamespace
        inner join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where c.relrowsecurity and n.nspname in ('analytics_marts', 'analytics_reporting') and a.attname = any(%s)
        order by 1, 2
        """, (sorted(identifying_columns()),))


def set_client_statistics(secured: Secured, on: bool) -> None:
    """Put the statistics of the client-identifying columns back (as before the fix), or take them off
    again exactly as the build does (statistics target 0, collected statistics deleted)."""
    for relation, column in identifying_in_secured_tables(secured):
        secured.execute(f'alter table {relation} alter column "{column}" set statistics {-1 if on else 0}')
        if not on:
            secured.execute("delete from pg_statistic where starelid = %s::regclass and staattnum = (select attnum "
                            "from pg_attribute where attrelid = %s::regclass and attname = %s)",
                            (relation, relation, column))
    for relation in {r for r, _ in identifying_in_secured_tables(secured)}:
        secured.execute(f"analyze {relation}")


def inference(secured: Secured) -> tuple[int, list[str], int, int]:
    """As a reader with no clients (an unmapped account manager): for every row-secured table and every
    client-identifying column, EXPLAIN's estimate of equality predicates (and for the client key range,
    IN and BETWEEN) over the most common values. Returns (estimates asked, predicates whose estimate
    depends on the value, client counts recovered within 1% from twice the estimate of `client_id = N`
    (the policy's subquery halves it) where estimates depend on the client, client counts tried)."""
    tables = list(secured.row_secured_models().values())
    probes, leaks, recovered, tried = 0, [], 0, 0
    for relation in tables:
        schema, table = relation.split(".")
        columns = {c for (c,) in secured.query(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
            (schema, table))} & identifying_columns()
        assert "client_id" in columns
        for column in sorted(columns):
            counts = dict(secured.query(f"select {column}, count(*) from {relation} where {column} is not null "
                                        f"group by 1 order by 2 desc limit 25"))
            if len(counts) < 2:
                continue
            forms = {f"{column} = %s": [(v,) for v in counts]}
            if column == "client_id":
                forms.update({f"{column} < %s": [(v,) for v in counts], f"{column} in (%s)": [(v,) for v in counts],
                              f"{column} between %s and %s": [(v, v) for v in counts]})
            for form, params in forms.items():
                got = estimates(secured, SALES_DIRECTOR, relation, form, params)
                probes += len(params)
                if len(got) > 1:
                    leaks.append(f"{relation}: '{form}' estimates differ by value: {sorted(got)[:5]}")
            if column == "client_id" and len(estimates(secured, SALES_DIRECTOR, relation, "client_id = %s",
                                                       [(v,) for v in counts])) > 1:
                for value, count in counts.items():
                    (estimate,) = estimates(secured, SALES_DIRECTOR, relation, "client_id = %s", [(value,)])
                    recovered += abs(estimate * 2 - count) <= max(1, count * 0.01)
            tried += len(counts) if column == "client_id" else 0
    return probes, leaks, recovered, tried


def test_statistics_inference_reveals_no_client_count(secured):
    """As built, every estimate is the same whatever the client: nothing to infer. The probe is shown to
    find the leak: with the statistics put back, it recovers client counts; then they are taken off again."""
    assert client_statistics(secured) == []
    probes, leaks, recovered, tried = inference(secured)
    print(f"access probe: {probes} EXPLAIN estimates as a reader with no clients over "
          f"{len(secured.row_secured_models())} row-secured tables: {len(leaks)} value-dependent, "
          f"{recovered} of {tried} client counts recovered within 1%")
    try:
        set_client_statistics(secured, on=True)
        _, leaks_before, recovered_before, _ = inference(secured)
    finally:
        set_client_statistics(secured, on=False)
    print(f"access probe: with the client columns' statistics (before the fix): {len(leaks_before)} value-dependent "
          f"predicates, {recovered_before} of {tried} client counts recovered within 1%")
    assert probes > 50 and tried > 20
    assert not leaks, leaks
    assert recovered == 0
    assert leaks_before and recovered_before > tried // 2, "the probe must detect the leak it guards against"
    assert client_statistics(secured) == []


# Ad-hoc questions power users ask of the marts, where the missing statistics would show first.
POWER_USER_QUERIES = {
    "adhoc: orders per client": "select c.client_name, count(*) from analytics_marts.fct_orders as o "
        "inner join analytics_marts.dim_client as c on c.client_id = o.client_id and c.is_current group by 1",
    "adhoc: one client's order lines by product": "select p.sku, sum(l.qty_ordered) from analytics_marts.fct_order_lines "
        "as l inner join analytics_marts.dim_product as p on p.product_id = l.product_id "
        "where l.client_id = (select min(client_id) from analytics_marts.dim_client) group by 1",
    "adhoc: shipments per contract": "select k.contract_number, count(*) from analytics_marts.fct_shipments as s "
        "inner join analytics_marts.fct_orders as o on o.order_id = s.order_id "
        "inner join analytics_marts.dim_contract as k on k.client_id = o.client_id and k.is_current group by 1",
}


def test_dashboard_queries_cost_of_no_client_statistics(secured, tmp_path):
    """Figures, not assertions: the dashboards' queries (analyses/, compiled by dbt) and a few ad-hoc
    questions of the marts, as finance (every client) and as an account manager, with the
    client-identifying columns' statistics off (as built) and on; median of 5 runs each, milliseconds."""
    import statistics
    import time

    from unify.dbt_runner import run_dbt

    run_dbt(["compile", "-s", "path:analyses"], secured.settings, target_path=tmp_path / "t", env=secured.env(),
            capture=True)
    queries = {p.stem: p.read_text() for p in sorted((tmp_path / "t").rglob("compiled/**/analyses/*.sql"))}
    assert queries
    queries.update(POWER_USER_QUERIES)
    manager = next(u.username for u in ACCOUNT_MANAGERS if expected_owned_clients(secured).get(u.username))

    def timings() -> dict[tuple[str, str], float]:
        out = {}
        for login in (FINANCE, manager):
            conn = secured.connect(login)
            with conn.cursor() as cur:
                for name, sql in queries.items():
                    runs = []
                    for _ in range(5):
                        t0 = time.perf_counter()
                        try:
                            cur.execute(sql)
                            cur.fetchall()
                        except PRIVILEGE:
                            runs = []
                            break
                        runs.append(time.perf_counter() - t0)
                    if runs:
                        out[(login, name)] = statistics.median(runs) * 1000
            conn.close()
        return out

    without = timings()
    try:
        set_client_statistics(secured, on=True)
        with_stats = timings()
    finally:
        set_client_statistics(secured, on=False)
    lines = [f"{'query':<44} {'as':<26} {'stats off ms':>12} {'stats on ms':>12}"]
    for (login, name), ms in sorted(without.items()):
        lines.append(f"{name:<44} {login:<26} {ms:>12.2f} {with_stats.get((login, name), float('nan')):>12.2f}")
    print("access probe: dashboard queries with and without client-identifying statistics\n" + "\n".join(lines))
    assert without and client_statistics(secured) == []  # left as the build leaves them
