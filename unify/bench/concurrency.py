"""The dashboards' queries under row-level security, at 1, 10 and 100 concurrent sessions.

The queries are the dashboards' own: every file in analyses/ (one per visual, generated from the
dashboards' spec, unify/dashboards/spec.yml: each returns what its visual shows), compiled by dbt for the
benchmark's database (`dbt compile -s path:analyses`); a dashboard is the files sharing a prefix
(`operations_health__*`, `client_profitability__*`). Each session is a connection of its own, logged
in as a person of the project's row-level security mapping (access_client_grants: the account managers
who own clients, and the finance, analyst and executive people of seeds/access_team_grants.csv), as a
non-superuser LOGIN role holding their team's project role (`login_users`, `create_logins`): PostgreSQL
applies the project's policies to every query. Sessions go round robin over the people, mixing the
roles; with more sessions than people, a person has several sessions (the simulated Salesforce org has
few people, and the policies' cost does not depend on who is asking).

All sessions connect first, then start together (a barrier) and each runs `rounds` dashboard views:
every query of one dashboard after the other, the dashboards alternating. Every query's latency is
recorded (p50, p95, max over all of them, and each query's own p95, so the slow one is named; the p95 of
the sessions' first views apart from the later ones': a new connection's first queries fill its backend's
catalog caches and plan from scratch, all sessions at once), and so is
each dashboard view's (its queries' sum: a conservative stand-in for QuickSight, which runs a
dashboard's visuals in parallel). Percentiles are statistics.quantiles' (inclusive method). A query that fails
is counted and its first error kept. The client is Python threads (psycopg2 releases the GIL while a
query runs) on the same machine as the server.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from unify.bench import BenchError
from unify.bench.results import ConcurrencyLevel
from loaders.config import Settings
from unify.dbt_runner import run_dbt


MIN_VIEWS_PER_LEVEL = 40  # a level with few sessions runs more rounds, so its p95 rests on enough queries


@dataclass(frozen=True)
class SessionUser:
    login: str  # the warehouse user name: the Salesforce Username, with the dbt var access_user_name_prefix
    role: str  # the project role it holds (unify_account_manager, unify_analyst, unify_finance, ...)


@dataclass(frozen=True)
class DashboardQuery:
    dashboard: str
    name: str
    sql: str
    relations: tuple[str, ...]  # schema.table of every model it reads (from dbt's manifest)


@dataclass
class _Timing:
    user: SessionUser
    dashboard: str
    query: str | None  # None: a whole dashboard view
    seconds: float
    rows: int
    view: int  # the session's n-th dashboard view (0: its first, on a connection whose caches are cold)


def compile_queries(settings: Settings, target: Path, env: dict[str, str]) -> list[DashboardQuery]:
    import json

    run_dbt(["compile", "-s", "path:analyses"], settings, target_path=target, capture=True, env=env)  # raises DbtError
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    queries = []
    for node in sorted((n for n in nodes.values() if n["resource_type"] == "analysis"), key=lambda n: n["name"]):
        path = target / "compiled" / "unify" / node["original_file_path"]
        relations = tuple(f"{nodes[d]['schema']}.{nodes[d]['alias']}" for d in node["depends_on"]["nodes"]
                          if d in nodes and nodes[d]["resource_type"] in ("model", "seed", "snapshot"))
        queries.append(DashboardQuery(node["name"].split("__", 1)[0], node["name"], path.read_text(), relations))
    if not queries:
        raise BenchError(f"no analyses in {target / 'manifest.json'}")
    return queries


def granted_queries(settings: Settings, users: list[SessionUser],
                    queries: list[DashboardQuery]) -> dict[str, list[DashboardQuery]]:
    """login -> the queries whose every relation the person may SELECT (has_table_privilege): a query on a
    table their role is not granted (e.g. account managers and rpt_operations_health_daily, which mixes
    every client's orders) is not part of what they can run."""
    import psycopg2

    conn = psycopg2.connect(settings.dsn())
    try:
        with conn.cursor() as cur:
            out: dict[str, list[DashboardQuery]] = {}
            for user in users:
                mine = []
                for q in queries:
                    allowed = True
                    for relation in q.relations:
                        cur.execute("select has_table_privilege(%s, %s, 'select')", (user.login, relation))
                        allowed = allowed and bool(cur.fetchone()[0])
                    if allowed:
                        mine.append(q)
                out[user.login] = mine
    finally:
        conn.close()
    return out


def percentile(values: list[float], p: int) -> float:
    """The p-th percentile (p in 1..99) of a non-empty list: statistics.quantiles' inclusive method
    (interpolating between the closest ranks, like PostgreSQL's percentile_cont); a single value is its
    own percentile."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def per_query_p95(timings: list["_Timing"]) -> dict[str, float]:
    """Each dashboard query's own p95 (seconds, 4 decimals), so the slow one is named, slowest first."""
    by_query: dict[str, list[float]] = {}
    for t in timings:
        if t.query is not None:
            by_query.setdefault(t.query, []).append(t.seconds)
    p95 = {name: round(percentile(values, 95), 4) for name, values in by_query.items()}
    return dict(sorted(p95.items(), key=lambda item: (-item[1], item[0])))


def view_split_p95(timings: list["_Timing"]) -> tuple[float | None, float | None]:
    """The p95 (seconds, 4 decimals) of the queries of the sessions' first views and of their later views',
    None for a side with no query (e.g. one view per session)."""
    first: list[float] = []
    later: list[float] = []
    for t in timings:
        if t.query is not None:
            (later if t.view else first).append(t.seconds)
    return tuple(round(percentile(values, 95), 4) if values else None for values in (first, later))


def interleave(users: list[SessionUser]) -> list[SessionUser]:
    """Users ordered so that any first n mix the roles (round robin over roles)."""
    by_role: dict[str, list[SessionUser]] = {}
    for user in sorted(users, key=lambda u: (u.role, u.login)):
        by_role.setdefault(user.role, []).append(user)
    out: list[SessionUser] = []
    while any(by_role.values()):
        for role in sorted(by_role):
            if by_role[role]:
                out.append(by_role[role].pop(0))
    return out


def run_level(settings: Settings, users: list[SessionUser], granted: dict[str, list[DashboardQuery]],
              sessions: int, rounds: int) -> ConcurrencyLevel:
    """`sessions` sessions at once, each running `rounds` views of the dashboards its person may read (the
    queries granted to them); every query timed."""
    import psycopg2

    ordered = interleave([u for u in users if granted.get(u.login)])
    if not ordered:
        raise BenchError("nobody in the mapping may read any dashboard query")
    chosen = [ordered[i % len(ordered)] for i in range(sessions)]
    connections = []
    try:
        for user in chosen:
            conn = psycopg2.connect(settings.dsn(user=user.login), connect_timeout=30,
                                    application_name="unify-bench")
            conn.autocommit = True
            connections.append(conn)
    except psycopg2.Error as err:
        for conn in connections:
            conn.close()
        raise BenchError(f"{sessions} sessions: connecting as {chosen[len(connections)].login!r} failed: "
                         f"{str(err).strip()}") from None
    timings: list[_Timing] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(sessions + 1)

    def session(index: int, user: SessionUser, conn) -> None:
        own: list[_Timing] = []
        own_errors: list[str] = []
        dashboards: dict[str, list[DashboardQuery]] = {}
        for q in granted[user.login]:
            dashboards.setdefault(q.dashboard, []).append(q)
        names = sorted(dashboards)
        barrier.wait()
        with conn.cursor() as cur:
            for r in range(rounds):
                dashboard = names[(index + r) % len(names)]
                view_s, view_rows, failed = 0.0, 0, False
                for q in dashboards[dashboard]:
                    started = time.perf_counter()
                    try:
                        cur.execute(q.sql)
                        rows = len(cur.fetchall())
                    except psycopg2.Error as err:
                        own_errors.append(f"{q.name} as {user.login}: {str(err).strip()}")
                        failed = True
                        continue
                    seconds = time.perf_counter() - started
                    own.append(_Timing(user, dashboard, q.name, seconds, rows, r))
                    view_s += seconds
                    view_rows += rows
                if not failed:
                    own.append(_Timing(user, dashboard, None, view_s, view_rows, r))
        with lock:
            timings.extend(own)
            errors.extend(own_errors)

    threads = [threading.Thread(target=session, args=(i, u, c), name=f"bench-session-{i}", daemon=True)
               for i, (u, c) in enumerate(zip(chosen, connections))]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    for conn in connections:
        conn.close()
    per_query = [t.seconds for t in timings if t.query is not None]
    per_view = [t.seconds for t in timings if t.query is None]
    if not per_query:
        raise BenchError(f"{sessions} sessions: no query succeeded; first error: {errors[0] if errors else '?'}")
    first_view_p95, later_views_p95 = view_split_p95(timings)
    roles: dict[str, int] = {}
    for user in chosen:
        roles[user.role] = roles.get(user.role, 0) + 1
    return ConcurrencyLevel(
        sessions=sessions, users=len({u.login for u in chosen}), roles=roles, queries=len(per_query),
        errors=len(errors), p50_s=round(percentile(per_query, 50), 4), p95_s=round(percentile(per_query, 95), 4),
        max_s=round(max(per_query), 4),
        dashboard_p95_s=round(percentile(per_view, 95), 4) if per_view else 0.0, seconds=round(seconds, 2),
        first_error=errors[0] if errors else None, per_query_p95_s=per_query_p95(timings),
        first_view_p95_s=first_view_p95, later_views_p95_s=later_views_p95)


def run(settings: Settings, target: Path, options, env: dict[str, str],
        say: Callable[[str], None]) -> tuple[str, dict[str, dict], list[ConcurrencyLevel]]:
    """Compile the dashboards' queries, log in as the mapped people, warm up, run each concurrency level."""
    queries = compile_queries(settings, target, env)
    rls = describe_rls(settings, options.schema)
    users = login_users(settings, options.schema)
    create_logins(settings, users)
    granted = granted_queries(settings, users, queries)
    say(f"{settings.pg_database}: {len(queries)} dashboard queries as {len(users)} login roles; {rls}")
    seen = rows_seen(settings, users, queries, granted)
    run_level(settings, users, granted, min(len(users), 4), 1)  # warm-up (caches, plans): not reported
    levels = []
    min_views = MIN_VIEWS_PER_LEVEL if options.rounds > 1 else 10
    for n in options.sessions:
        level = run_level(settings, users, granted, n, max(options.rounds, math.ceil(min_views / n)))
        slowest = ", ".join(f"{name} {p95:.3f} s" for name, p95 in list(level.per_query_p95_s.items())[:3])
        first = "–" if level.first_view_p95_s is None else f"{level.first_view_p95_s:.3f} s"
        say(f"{settings.pg_database}: {n} session(s): p50 {level.p50_s:.3f} s, p95 {level.p95_s:.3f} s, "
            f"max {level.max_s:.3f} s, dashboard view p95 {level.dashboard_p95_s:.3f} s, {level.errors} errors; "
            f"first views' queries p95 {first}; slowest p95: {slowest}")
        levels.append(level)
    return rls, seen, levels


def rows_seen(settings: Settings, users: list[SessionUser], queries: list[DashboardQuery],
              granted: dict[str, list[DashboardQuery]]) -> dict[str, dict]:
    """Evidence that the policies filter: rows each dashboard query returns to dbt's superuser (every
    row) and to each person, per project role (fewest and most among its people; None: not granted)."""
    import psycopg2

    seen: dict[str, dict] = {}
    try:
        conn = psycopg2.connect(settings.dsn())
        try:
            with conn.cursor() as cur:
                for q in queries:
                    cur.execute(q.sql)
                    seen[q.name] = {"all_rows": len(cur.fetchall())}
        finally:
            conn.close()
        for user in users:
            conn = psycopg2.connect(settings.dsn(user=user.login))
            try:
                with conn.cursor() as cur:
                    for q in queries:
                        if q not in granted[user.login]:
                            seen[q.name].setdefault(user.role, None)
                            continue
                        cur.execute(q.sql)
                        n = len(cur.fetchall())
                        low, high = seen[q.name].get(user.role) or (n, n)
                        seen[q.name][user.role] = (min(low, n), max(high, n))
            finally:
                conn.close()
    except psycopg2.Error as err:
        raise BenchError(f"running the dashboards' queries once per person: {str(err).strip()}") from None
    return seen


PEOPLE_ROLES = ("unify_account_manager", "unify_analyst", "unify_finance", "unify_executive")  # not the services


def login_users(settings: Settings, schema: str) -> list[SessionUser]:
    """Every person in the row-level security mapping, as the warehouse user name the policies match,
    with their project role: unify.access's one login rule (mapping_login_plan), people only (the
    QuickSight service account runs no dashboard session). A person in two teams holds both roles and
    is labelled with both."""
    from unify.access import AccessQueryError, mapping_login_plan

    try:
        plan = mapping_login_plan(settings, schema)
    except AccessQueryError as err:
        raise BenchError(str(err)) from None
    users = {login: "+".join(r for r in roles if r in PEOPLE_ROLES) for login, roles in plan.items()}
    users = {login: label for login, label in users.items() if label}
    if not users:
        raise BenchError("the row-level security mapping names nobody: no login to run the dashboards as")
    return [SessionUser(login, label) for login, label in sorted(users.items())]


def create_logins(settings: Settings, users: list[SessionUser]) -> None:
    """A LOGIN role per person holding their project roles (unify.access.create_logins, the one rule):
    what the identity provider gives people in production."""
    from unify.access import AccessQueryError, create_logins as create

    try:
        create(settings, {user.login: user.role.split("+") for user in users})
    except AccessQueryError as err:
        raise BenchError(str(err)) from None


def drop_logins(settings: Settings, prefix: str) -> None:
    """Drop the benchmark's login roles (cluster-wide in PostgreSQL): every role named <prefix>..."""
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(settings.dsn(database="postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select rolname from pg_roles where rolcanlogin and starts_with(rolname, %s)", (prefix,))
            for (name,) in cur.fetchall():
                cur.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))
    finally:
        conn.close()


def describe_rls(settings: Settings, schema: str) -> str:
    """The row-level security in force, read from the catalogs; raises when there is none."""
    import psycopg2

    conn = psycopg2.connect(settings.dsn())
    try:
        with conn.cursor() as cur:
            cur.execute("""
                select count(*), sum(case when c.relrowsecurity then 1 else 0 end),
                       string_agg(case when c.relrowsecurity then c.relname end, ', ' order by c.relname)
                from pg_class as c
                inner join pg_namespace as n on n.oid = c.relnamespace
                where n.nspname in (%s, %s) and c.relkind = 'r'""", (f"{schema}_marts", f"{schema}_reporting"))
            tables, secured, names = cur.fetchone()
            cur.execute("""
                select count(*), count(distinct p.polname) from pg_policy as p
                inner join pg_class as c on c.oid = p.polrelid
                inner join pg_namespace as n on n.oid = c.relnamespace
                where n.nspname in (%s, %s)""", (f"{schema}_marts", f"{schema}_reporting"))
            policies, names_of_policies = cur.fetchone()
    finally:
        conn.close()
    if not secured:
        raise BenchError(f"no table in {schema}_marts or {schema}_reporting has row-level security on: the "
                         "dashboards would not be measured as their users see them")
    return (f"on for {secured} of {tables} marts and reporting tables ({names}); {policies} policies "
            f"({names_of_policies} distinct), each a membership test on {schema}_access.access_client_grants "
            "for current_user")
