"""`unify access`: what a user can see (`show`), the one login rule (`local-logins`), the privileged step
(`apply`) and the PII key (`install-pii-key`, `rotate-pii-key`, in unify/pii_key.py); docs/access-control.md.

`unify access show <user>` answers the first question of a security review. Everything is asked of the
database, never of the project's configuration, so the answer is the truth even when someone granted
something by hand:
- the user: can it log in, is it a superuser, does it bypass row-level security (pg_roles);
- its roles, direct and inherited (pg_auth_members, pg_has_role);
- every schema: USAGE and CREATE (has_schema_privilege), how many tables it can read there
  (has_table_privilege) and how many of those are row-secured (pg_class.relrowsecurity);
- the clients whose rows it sees: its rows in the row-level security mapping
  (<schema>_access.access_client_grants), with the clients' codes and names;
- each row-secured table it can read and the policies that apply to it (pg_policy): none means no rows.

It reads the local warehouse (PostgreSQL; UNIFY_PG_* settings). On Redshift the same questions go to
svv_user_grants, svv_role_grants, svv_schema_privileges and svv_rls_attached_policy.

The privileged step runs as the security admin, never as the build's identity: the admin's dbt target
(`<target>_admin` of profiles.yml, or UNIFY_ACCESS_ADMIN_TARGET) and, where the caller is a container or
a CI runner, the admin's IAM role (UNIFY_ACCESS_ADMIN_ROLE_ARN): `apply` and `install-pii-key` assume it
with STS and connect with its temporary credentials, so the database user is IAMR:<admin role>. `unify
cycle` runs the step after every build on every target but local (`cycle_access_step`).

Exit codes: 0 done (for show: the user exists, report printed); 1 no such user; 2 the warehouse, dbt, STS
or Secrets Manager failed (the message says which); 75 rotate-pii-key refused: a load cycle is running.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import yaml

from loaders.config import Settings, load_settings
from unify.dbt_runner import dbt_schema

log = logging.getLogger(__name__)

EXIT_OK, EXIT_NO_USER, EXIT_ERROR, EXIT_BUSY = 0, 1, 2, 75
MAPPING_TABLE = "access_client_grants"
CLIENTS_TABLE = "stg_azureware__clients"


class AccessQueryError(Exception):
    """The warehouse could not answer a question about a user's access; says which and why."""


@dataclass(frozen=True)
class RoleMembership:
    role: str
    direct: bool  # granted to the user itself, not through another role
    inherits: bool  # its privileges apply without SET ROLE


@dataclass(frozen=True)
class SchemaAccess:
    schema: str
    usage: bool
    create: bool
    readable_tables: int
    row_secured_tables: int


@dataclass(frozen=True)
class ClientGrant:
    client_id: int
    client_code: str | None
    client_name: str | None
    grant_source: str
    team: str | None


@dataclass(frozen=True)
class RowSecuredTable:
    table: str
    policies: list[str]  # "name: expression" of each policy that applies to the user; none: no rows
    all_rows: bool  # superuser, BYPASSRLS, owner or an all-rows policy (the transformer's)


@dataclass
class AccessReport:
    user: str
    database: str
    exists: bool
    can_login: bool = False
    superuser: bool = False
    bypass_rls: bool = False
    roles: list[RoleMembership] = field(default_factory=list)
    schemas: list[SchemaAccess] = field(default_factory=list)
    mapping_table: str | None = None  # None: the mapping is not built in this database
    clients: list[ClientGrant] = field(default_factory=list)
    all_clients: bool = False  # a grant for every client (team grant without a client)
    client_count: int | None = None  # clients in the warehouse, for "n of N"
    row_secured: list[RowSecuredTable] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


_SYSTEM_SCHEMAS = "n.nspname !~ '^pg_' and n.nspname <> 'information_schema'"


def show_access(settings: Settings, user: str, schema_prefix: str) -> AccessReport:
    """What `user` can see in the settings' database, from the catalogs (PostgreSQL)."""
    import psycopg2

    report = AccessReport(user=user, database=settings.pg_database, exists=False)
    try:
        conn = psycopg2.connect(settings.dsn())
    except psycopg2.Error as err:
        raise AccessQueryError(f"cannot connect to {settings.url()}: {str(err).strip()}") from None
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select rolcanlogin, rolsuper, rolbypassrls from pg_catalog.pg_roles where rolname = %s",
                        (user,))
            row = cur.fetchone()
            if row is None:
                return report
            report.exists = True
            report.can_login, report.superuser, report.bypass_rls = row
            report.roles = _roles(cur, user)
            report.schemas = _schemas(cur, user)
            report.row_secured = _row_secured_tables(cur, user, report.superuser or report.bypass_rls)
            _clients(cur, user, schema_prefix, report)
    except psycopg2.Error as err:
        raise AccessQueryError(f"reading the access of {user!r} in {settings.url()}: {str(err).strip()}") from None
    finally:
        conn.close()
    return report


def _roles(cur, user: str) -> list[RoleMembership]:
    # Memberships as granted (pg_auth_members, followed through roles); pg_has_role tells whether the
    # role's privileges apply without SET ROLE. (pg_has_role alone says yes to every role for a superuser.)
    cur.execute(
        """
        with recursive granted(roleid, direct) as (
            select m.roleid, true
            from pg_catalog.pg_auth_members as m
            inner join pg_catalog.pg_roles as u on u.oid = m.member
            where u.rolname = %(user)s
            union
            select m.roleid, false
            from pg_catalog.pg_auth_members as m
            inner join granted on m.member = granted.roleid
        )
        select r.rolname, bool_or(granted.direct), pg_catalog.pg_has_role(%(user)s, r.oid, 'USAGE')
        from granted
        inner join pg_catalog.pg_roles as r on r.oid = granted.roleid
        group by r.oid, r.rolname
        order by r.rolname
        """,
        {"user": user},
    )
    return [RoleMembership(*row) for row in cur.fetchall()]


def _schemas(cur, user: str) -> list[SchemaAccess]:
    cur.execute(
        f"""
        select
            n.nspname,
            pg_catalog.has_schema_privilege(%(user)s, n.oid, 'USAGE') as usage,
            pg_catalog.has_schema_privilege(%(user)s, n.oid, 'CREATE') as can_create,
            count(c.oid) filter (
                where pg_catalog.has_schema_privilege(%(user)s, n.oid, 'USAGE')
                and pg_catalog.has_table_privilege(%(user)s, c.oid, 'SELECT')
            ) as readable,
            count(c.oid) filter (
                where pg_catalog.has_schema_privilege(%(user)s, n.oid, 'USAGE')
                and pg_catalog.has_table_privilege(%(user)s, c.oid, 'SELECT') and c.relrowsecurity
            ) as row_secured
        from pg_catalog.pg_namespace as n
        left join pg_catalog.pg_class as c
            on c.relnamespace = n.oid and c.relkind in ('r', 'p', 'v', 'm', 'f')
        where {_SYSTEM_SCHEMAS}
        group by n.oid, n.nspname
        order by n.nspname
        """,
        {"user": user},
    )
    return [SchemaAccess(*row) for row in cur.fetchall()]


def _row_secured_tables(cur, user: str, bypasses: bool) -> list[RowSecuredTable]:
    cur.execute(
        f"""
        select
            n.nspname || '.' || c.relname,
            coalesce(array(
                select p.polname || ': ' || coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), 'true')
                from pg_catalog.pg_policy as p
                where p.polrelid = c.oid and p.polcmd in ('r', '*') and p.polpermissive
                and (
                    0 = any(p.polroles)
                    or exists (
                        select 1 from unnest(p.polroles) as pr(roleid)
                        where pg_catalog.pg_has_role(%(user)s, pr.roleid, 'USAGE')
                    )
                )
                order by p.polname
            ), '{{}}') as policies,
            pg_catalog.pg_has_role(%(user)s, c.relowner, 'USAGE') and not c.relforcerowsecurity as owner
        from pg_catalog.pg_class as c
        inner join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
        where {_SYSTEM_SCHEMAS} and c.relrowsecurity
        and pg_catalog.has_schema_privilege(%(user)s, n.oid, 'USAGE')
        and pg_catalog.has_table_privilege(%(user)s, c.oid, 'SELECT')
        order by 1
        """,
        {"user": user},
    )
    tables = []
    for table, policies, owner in cur.fetchall():
        unfiltered = bypasses or owner or any(p.endswith(": true") for p in policies)
        tables.append(RowSecuredTable(table, list(policies), unfiltered))
    return tables


def _clients(cur, user: str, schema_prefix: str, report: AccessReport) -> None:
    from psycopg2 import sql

    mapping_schema, staging_schema = f"{schema_prefix}_access", f"{schema_prefix}_staging"
    cur.execute("select pg_catalog.to_regclass(%s), pg_catalog.to_regclass(%s)",
                (sql.Identifier(mapping_schema, MAPPING_TABLE).as_string(cur),
                 sql.Identifier(staging_schema, CLIENTS_TABLE).as_string(cur)))
    mapping_oid, clients_oid = cur.fetchone()
    if mapping_oid is None:
        return
    report.mapping_table = f"{mapping_schema}.{MAPPING_TABLE}"
    if clients_oid is not None:
        query = sql.SQL(
            """
            select g.client_id, c.client_code, c.client_name, g.grant_source, g.team, g.is_all_clients
            from {mapping} as g left join {clients} as c on c.client_id = g.client_id
            where g.user_name = %s
            order by g.client_id, g.grant_source
            """
        )
    else:
        query = sql.SQL(
            """
            select g.client_id, null, null, g.grant_source, g.team, g.is_all_clients
            from {mapping} as g where g.user_name = %s order by g.client_id, g.grant_source
            """
        )
    mapping = sql.Identifier(mapping_schema, MAPPING_TABLE)
    clients = sql.Identifier(staging_schema, CLIENTS_TABLE)
    cur.execute(query.format(mapping=mapping, clients=clients), (user,))
    for client_id, code, name, source, team, is_all in cur.fetchall():
        report.clients.append(ClientGrant(client_id, code, name, source, team))
        report.all_clients = report.all_clients or bool(is_all)
    if clients_oid is not None:
        cur.execute(sql.SQL("select count(*) from {}").format(clients))
        report.client_count = cur.fetchone()[0]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def format_report(report: AccessReport) -> str:
    """The report as text for a person (a security reviewer)."""
    if not report.exists:
        return f"{report.user}: no such user or role in database {report.database}"
    lines = [
        f"Access of {report.user} in database {report.database}",
        f"  can log in: {_yes(report.can_login)}   superuser: {_yes(report.superuser)}   "
        f"bypasses row-level security: {_yes(report.bypass_rls)}",
    ]
    if report.superuser:
        lines.append("  A superuser passes every privilege check and every row-level security policy.")
    lines.append("Roles:")
    if not report.roles:
        lines.append("  none")
    for role in report.roles:
        how = "granted directly" if role.direct else "through another role"
        lines.append(f"  {role.role} ({how}{'' if role.inherits else '; privileges only after SET ROLE'})")
    lines.append("Schemas:")
    width = max([len(s.schema) for s in report.schemas] + [6])
    lines.append(f"  {'schema':<{width}}  usage  create  readable tables  row-secured")
    for s in report.schemas:
        lines.append(f"  {s.schema:<{width}}  {_yes(s.usage):<5}  {_yes(s.create):<6}  "
                     f"{s.readable_tables:>15}  {s.row_secured_tables:>11}")
    lines.append("Clients (row-level security):")
    if report.mapping_table is None:
        lines.append("  the mapping access_client_grants is not built in this database")
    elif not report.clients:
        lines.append(f"  none: no row in {report.mapping_table}, so no client's rows")
    else:
        distinct = sorted({c.client_id for c in report.clients})
        total = f" of {report.client_count}" if report.client_count is not None else ""
        scope = " (every client, present and future)" if report.all_clients else ""
        lines.append(f"  {len(distinct)}{total} clients{scope}, from {report.mapping_table}:")
        for c in report.clients:
            lines.append(f"    {c.client_id:>6}  {c.client_code or '?':<10}  {c.client_name or '?':<28}  "
                         f"{c.grant_source}{' (' + c.team + ')' if c.team else ''}")
    # Each policy is printed once and numbered; tables refer to it by number (the same client policy
    # applies to every row-secured table).
    numbers: dict[str, int] = {}
    for t in report.row_secured:
        for policy in t.policies:
            numbers.setdefault(policy, len(numbers) + 1)
    if numbers:
        lines.append("Row-level security policies that apply to it:")
        lines.extend(f"  [{n}] {policy}" for policy, n in numbers.items())
    lines.append("Row-secured tables it can read:")
    if not report.row_secured:
        lines.append("  none")
    for t in report.row_secured:
        if t.all_rows:
            note = "every row (superuser, BYPASSRLS, owner or an all-rows policy)"
        elif not t.policies:
            note = "NO rows: no policy applies to this user"
        elif not report.clients and not t.table.endswith("." + MAPPING_TABLE):
            note = "NO rows: the mapping grants no client"
        else:
            note = "filtered by " + ", ".join(f"[{numbers[p]}]" for p in t.policies)
        lines.append(f"  {t.table}: {note}")
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "access",
        help="access control: what a user can see, local logins, the PII key, the privileged step",
        description="Access control, as the warehouse enforces it (docs/access-control.md).",
    )
    actions = parser.add_subparsers(dest="action", metavar="<action>")
    actions.required = True
    show = actions.add_parser(
        "show",
        help="print a user's roles, schemas, clients and row-secured tables, read from the warehouse's catalogs",
        description=__doc__.split("\n\n")[1],
    )
    show.add_argument("user", help="warehouse user name (= Salesforce Username, e.g. amelia.hart@glc.example)")
    show.add_argument("--schema", default=None,
                      help="dbt target schema whose _access and _staging schemas to read "
                           "(default: $UNIFY_SCHEMA or analytics)")
    show.add_argument("--json", action="store_true", help="print the report as JSON")
    logins = actions.add_parser(
        "local-logins",
        help="local warehouse only: create a login for every person in the RLS mapping, with their team's role",
        description="Creates (idempotently) a LOGIN role for each person in the row-level security mapping, "
        "granted the project role of each team the mapping lists them under (TEAM_ROLES), so that "
        "`unify warehouse psql -U <user>` shows what that person sees. Local warehouse only: in production "
        "users come from the identity provider.",
    )
    logins.add_argument("--schema", default=None, help="dbt target schema (default: $UNIFY_SCHEMA or analytics)")
    apply = actions.add_parser(
        "apply",
        help="the privileged step: roles, raw-schema grants, row-level security, reader grants (run as a security admin)",
        description="Runs `dbt run-operation apply_access` for the target: what needs security-admin rights "
        "(CREATE ROLE, GRANT IGNORE RLS, CREATE/ATTACH RLS POLICY, ROW LEVEL SECURITY ON, REVOKE CREATE ON "
        "SCHEMA public FROM PUBLIC, raw-schema grants) and, table by table after its policy, SELECT for the "
        "reader roles. On every target but local the build does none of it; run this right after each build, "
        "with the security admin's credentials (docs/access-control.md, 'Who needs what').",
    )
    apply.add_argument("--target", default="local",
                       help="the security admin's dbt target of profiles.yml, e.g. prod_admin (default: local)")
    _assume_role_option(apply)
    for name, help_text, description in (
        ("install-pii-key", "copy the PII pseudonymisation key into the target's key vault",
         "Installs the key of the keyed hash that pseudonymises PII into <schema>_pii.pii_hash_key of the "
         "dbt target: from AWS Secrets Manager (--secret-id, default $UNIFY_PII_KEY_SECRET_ID), or, on the "
         "local target without a secret, a freshly generated one. The key goes to the warehouse as data "
         "(COPY FROM STDIN, bound parameters), never as SQL text. Models already built keep hashes made "
         "with the previous key: use rotate-pii-key to re-key them."),
        ("rotate-pii-key", "install a new PII key and rebuild every pseudonymised model and its dependents",
         "Re-keys: takes the cycle lock (refused, exit 75, while a load cycle runs), installs the secret's "
         "current version as `install-pii-key` does (--secret-id; on the local target without one, a generated "
         "key), then `dbt build --full-refresh` of every model that calls keyed_hash and everything downstream, "
         "then, on every target but local, the privileged step as the security admin. Rotate the secret in "
         "Secrets Manager first."),
    ):
        action = actions.add_parser(name, help=help_text, description=description)
        action.add_argument("--target", default="local", help="dbt target of profiles.yml (default: local)")
        action.add_argument("--secret-id", default=None,
                            help="Secrets Manager secret name or ARN (default: $UNIFY_PII_KEY_SECRET_ID; "
                                 "required on every target but local)")
        _assume_role_option(action)
    parser.set_defaults(func=run)


def _assume_role_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assume-role", dest="assume_role", default=os.environ.get(ADMIN_ROLE_ENV) or None,
                        metavar="ROLE_ARN",
                        help=f"act as the security admin: assume this IAM role first (default: ${ADMIN_ROLE_ENV}, "
                             "set in the cycle's container and CI; unset: the caller's own credentials)")


# The one rule for logins (docs/access-control.md, "Logins"): every person or service in the mapping
# gets a LOGIN role named as the mapping's user_name, holding exactly the project roles of the teams the
# mapping lists them under (a person in two teams holds both roles). A team missing here is an error,
# never a silent skip: the seed's accepted_values test and this table change together.
TEAM_ROLES = {"account_manager": "unify_account_manager", "finance": "unify_finance",
              "analyst": "unify_analyst", "executive": "unify_executive", "service": "unify_quicksight"}


class AccessConfigError(AccessQueryError):
    """The mapping names a team that has no project role (TEAM_ROLES)."""


def login_plan(rows) -> dict[str, list[str]]:
    """user_name -> the project roles of every team the mapping lists them under, from (user_name, team)
    rows. Raises AccessConfigError for a team TEAM_ROLES does not know."""
    plan: dict[str, set[str]] = {}
    for user, team in rows:
        if team not in TEAM_ROLES:
            raise AccessConfigError(f"the mapping gives {user!r} team {team!r}, which has no project role; "
                                    f"known teams: {', '.join(sorted(TEAM_ROLES))} (unify/access.py TEAM_ROLES)")
        plan.setdefault(user, set()).add(TEAM_ROLES[team])
    return {user: sorted(roles) for user, roles in sorted(plan.items())}


def mapping_login_plan(settings: Settings, schema_prefix: str) -> dict[str, list[str]]:
    """The login plan of the row-level security mapping <schema>_access.access_client_grants."""
    import psycopg2
    from psycopg2 import sql

    mapping = sql.Identifier(f"{schema_prefix}_access", MAPPING_TABLE)
    conn = psycopg2.connect(settings.dsn())
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("select distinct user_name, team from {} order by 1, 2").format(mapping))
            rows = cur.fetchall()
    except psycopg2.errors.UndefinedTable:
        raise AccessQueryError(f"{schema_prefix}_access.{MAPPING_TABLE} is not built: run dbt build first") from None
    except psycopg2.Error as err:
        raise AccessQueryError(f"reading {schema_prefix}_access.{MAPPING_TABLE}: {str(err).strip()}") from None
    finally:
        conn.close()
    return login_plan(rows)


def create_logins(settings: Settings, plan: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Make each planned login exist (LOGIN, trust authentication locally: no password) and hold exactly
    its planned project roles: missing ones granted, other project roles (var access_roles) revoked. Idempotent: an existing login keeps its identity (OID). Returns the
    (login, role) pairs granted."""
    import psycopg2
    from psycopg2 import sql

    project_roles = set(TEAM_ROLES.values()) | set(project_vars(settings.root).get("access_roles") or [])
    pairs = []
    conn = psycopg2.connect(settings.dsn())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for login, roles in plan.items():
                name = sql.Identifier(login)
                cur.execute("select 1 from pg_catalog.pg_roles where rolname = %s", (login,))
                if cur.fetchone() is None:
                    try:
                        cur.execute(sql.SQL("create role {} login").format(name))
                    except psycopg2.errors.DuplicateObject:
                        pass  # created meanwhile by a concurrent run (roles are cluster-wide)
                cur.execute("select r.rolname from pg_catalog.pg_auth_members as m "
                            "inner join pg_catalog.pg_roles as r on r.oid = m.roleid "
                            "inner join pg_catalog.pg_roles as u on u.oid = m.member where u.rolname = %s", (login,))
                held = {r for (r,) in cur.fetchall()}
                for role in sorted((held & project_roles) - set(roles)):
                    cur.execute(sql.SQL("revoke {} from {}").format(sql.Identifier(role), name))
                for role in roles:
                    if role not in held:
                        cur.execute(sql.SQL("grant {} to {}").format(sql.Identifier(role), name))
                    pairs.append((login, role))
    except psycopg2.Error as err:
        raise AccessQueryError(f"creating logins: {str(err).strip()}") from None
    finally:
        conn.close()
    return pairs


def create_local_logins(settings: Settings, schema_prefix: str) -> list[tuple[str, str]]:
    """`unify access local-logins`: create_logins for the mapping's people (mapping_login_plan).
    Refuses an external PostgreSQL: creating logins is for the embedded demo warehouse."""
    if settings.external:
        raise AccessQueryError("local-logins only runs on the embedded local warehouse (UNIFY_PG_HOST is set)")
    return create_logins(settings, mapping_login_plan(settings, schema_prefix))


def project_vars(root: Path) -> dict:
    """The vars of dbt_project.yml (the access roles and the transformer role are plain strings there)."""
    return yaml.safe_load((root / "dbt_project.yml").read_text()).get("vars") or {}


# ------------------------------------------------------------------------- the privileged step

ADMIN_ROLE_ENV = "UNIFY_ACCESS_ADMIN_ROLE_ARN"     # the security admin's IAM role (containers, CI)
ADMIN_TARGET_ENV = "UNIFY_ACCESS_ADMIN_TARGET"     # its dbt target (default: <build target>_admin)
_APPLIED = re.compile(r"apply_access: ([^\n\"]*)")
_SECURED = re.compile(r"row-level security and reader grants on (\d+) tables")


class AccessApplyError(AccessQueryError):
    """The privileged step failed: assuming the admin role, or `dbt run-operation apply_access`."""


@dataclass(frozen=True)
class AdminIdentity:
    """Who runs the privileged step: a dbt target of profiles.yml and, optionally, an IAM role assumed
    first (the database user is then IAMR:<that role>; the build's identity never holds its rights)."""

    target: str
    role_arn: str | None = None

    @classmethod
    def for_build(cls, build_target: str, env: dict[str, str] | None = None) -> "AdminIdentity":
        """The admin of a build target: UNIFY_ACCESS_ADMIN_TARGET or <build target>_admin, and
        UNIFY_ACCESS_ADMIN_ROLE_ARN."""
        env = os.environ if env is None else env
        return cls(env.get(ADMIN_TARGET_ENV) or f"{build_target}_admin", env.get(ADMIN_ROLE_ENV) or None)


def assume_admin_role(role_arn: str, session_name: str) -> tuple[dict[str, str], str]:
    """Temporary credentials of the admin role (STS AssumeRole, one hour) as environment variables for
    a child process or this one, and the assumed session's ARN (what CloudTrail records)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    sts = boto3.client("sts", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    try:
        reply = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64], DurationSeconds=3600)
    except (ClientError, BotoCoreError) as err:
        raise AccessApplyError(f"assuming the security admin's role {role_arn}: {err}") from None
    creds = reply["Credentials"]
    env = {"AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
           "AWS_SESSION_TOKEN": creds["SessionToken"]}
    return env, reply["AssumedRoleUser"]["Arn"]


def admin_environment(admin: AdminIdentity, session_name: str) -> tuple[dict[str, str], str | None]:
    """The environment a child process acting as the admin needs ({} without a role) and the assumed ARN."""
    if not admin.role_arn:
        return {}, None
    env, assumed = assume_admin_role(admin.role_arn, session_name)
    log.info(json.dumps({"event": "access_admin_assumed", "role": admin.role_arn, "session": assumed}))
    return env, assumed


@dataclass
class AccessApplied:
    target: str
    assumed_role: str | None
    applied: str | None        # apply_access's own summary line (captured runs)
    tables: int | None         # row-secured tables secured and granted


def apply_access(settings: Settings, admin: AdminIdentity, *, target_path: Path | None = None,
                 capture: bool = True, log_format: str | None = None,
                 session_name: str = "unify-access-apply") -> AccessApplied:
    """`dbt run-operation apply_access --target <admin target>`, as the admin (its role assumed first).
    Raises AccessApplyError with dbt's last lines when it fails."""
    from unify.dbt_runner import run_dbt

    env, assumed = admin_environment(admin, session_name)
    args = ["run-operation", "apply_access", "--target", admin.target]
    if log_format:
        args = ["--log-format", log_format, *args]
    proc = run_dbt(args, settings, target_path=target_path, capture=capture, check=False, env=env)
    output = proc.stdout or ""
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-15:])
        raise AccessApplyError(f"`dbt run-operation apply_access --target {admin.target}` exited {proc.returncode}"
                               + (f" (as {assumed})" if assumed else "") + (f":\n{tail}" if tail else ""))
    applied, secured = _APPLIED.search(output), _SECURED.search(output)
    return AccessApplied(admin.target, assumed, applied.group(1).strip() if applied else None,
                         int(secured.group(1)) if secured else None)


def cycle_access_step(context) -> dict:
    """The cycle's privileged step (unify.cycle.POST_CYCLE_STEPS): after every build on every target but
    local, apply_access as the security admin, so readers read the tables the build replaced through their
    policies. Local: skipped, the local build applies everything itself (macros/access/
    access_privileged_in_build.sql: true on the local target only)."""
    from unify.cycle import PostCycleSkipped

    build_target = context.dbt_target or os.environ.get("DBT_TARGET") or "local"
    if build_target == "local":
        raise PostCycleSkipped("the local target's build applies access control itself (as the warehouse's "
                               "superuser, in its hooks)")
    admin = AdminIdentity.for_build(build_target)
    target_root = context.target_root or context.build_target_path
    done = apply_access(context.settings, admin, target_path=target_root / "access", capture=True,
                        log_format=context.dbt_log_format, session_name=f"unify-cycle-{context.run_id}")
    return {"admin_target": done.target, "assumed_role": done.assumed_role, "tables": done.tables,
            "applied": done.applied}


def run_apply(args: argparse.Namespace, settings: Settings) -> int:
    """`unify access apply`: the privileged step for the target, as the admin."""
    try:
        done = apply_access(settings, AdminIdentity(args.target, args.assume_role), capture=False)
    except AccessApplyError as err:
        print(f"unify access apply: {err}", file=sys.stderr)
        return EXIT_ERROR
    if done.assumed_role:
        print(f"unify access apply: applied on target {done.target} as {done.assumed_role}", file=sys.stderr)
    return EXIT_OK


# ------------------------------------------------------------------------------------------ the PII key


def _install_key(args: argparse.Namespace, settings: Settings, secret_id: str | None) -> int:
    """install-pii-key, in this process: with --assume-role, this process acts as the admin (the role's
    temporary credentials in its environment before any AWS or Redshift call)."""
    from unify import pii_key

    name = f"unify access {args.action}"
    try:
        if args.assume_role:
            env, assumed = admin_environment(AdminIdentity(args.target, args.assume_role), "unify-install-pii-key")
            os.environ.update(env)
            print(f"{name}: acting as {assumed}", file=sys.stderr)
        target = pii_key.load_target(settings.root, settings.root, args.target)
        if secret_id:
            key = pii_key.fetch_secret_key(secret_id)
        elif args.target == "local":
            key = pii_key.generate_key("generated by unify access " + args.action)
        else:
            print(f"{name}: target {args.target!r} needs --secret-id or UNIFY_PII_KEY_SECRET_ID (the Secrets "
                  "Manager secret holding the key); only the local target generates its own", file=sys.stderr)
            return EXIT_ERROR
        state = pii_key.install_key(target, key, pii_key.transformer_role(settings.root))
    except (pii_key.PiiKeyError, AccessApplyError) as err:
        print(f"{name}: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(f"installed PII key {state.key_id} ({state.source}) into {target.vault} of target {target.name}")
    return EXIT_OK


def _rotate_key(args: argparse.Namespace, settings: Settings, secret_id: str | None) -> int:
    """rotate-pii-key: under the cycle lock, install the new key as `install-pii-key` does (a child process:
    with --assume-role it acts as the admin, this process stays the build's identity), rebuild every
    pseudonymised model and its dependents with --full-refresh, then, outside the local target, the
    privileged step (the rebuilt tables are closed to readers until it runs)."""
    from unify import pii_key
    from unify.cycle_lock import CycleLockError, CycleRefused, Holder, open_lock
    from unify.dbt_runner import DbtError, dbt_schema, run_dbt

    name = "unify access rotate-pii-key"
    local = args.target == "local"
    env = {"UNIFY_PII_KEY_SECRET_ID": secret_id} if secret_id else {}
    holder = Holder("rotate-pii-key")
    try:
        lock = open_lock(settings, dbt_schema(), holder, lock_url=os.environ.get("UNIFY_CYCLE_LOCK") or None,
                         local_target=local)
        lock.acquire()
    except CycleRefused as err:
        print(f"{name}: refused, a load cycle is running: {err}. Run it again when the cycle has finished "
              "(a rotation rebuilds what the cycle builds).", file=sys.stderr)
        return EXIT_BUSY
    except CycleLockError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return EXIT_ERROR

    def install() -> pii_key.VaultState:
        command = [sys.executable, "-m", "unify.cli", "access", "install-pii-key", "--target", args.target]
        command += ["--secret-id", secret_id] if secret_id else []
        command += ["--assume-role", args.assume_role] if args.assume_role else []
        proc = subprocess.run(command, cwd=settings.root, env={**os.environ, **env}, text=True,
                              capture_output=True)
        print((proc.stdout + proc.stderr).strip(), file=sys.stderr)
        if proc.returncode != 0:
            raise pii_key.PiiKeyError(f"installing the new key failed (exit {proc.returncode})")
        return pii_key.vault_state(target)

    try:
        target = pii_key.load_target(settings.root, settings.root, args.target)
        with tempfile.TemporaryDirectory(prefix="unify-rotate-") as scratch:
            target_path = Path(scratch) / "target"
            run_dbt(["parse", "--target", args.target], settings, target_path=target_path, capture=True, env=env)
            manifest = json.loads((target_path / "manifest.json").read_text())
            print(f"{name}: installing the new key, then rebuilding {', '.join(pii_key.keyed_models(manifest))} "
                  "and everything downstream with --full-refresh", file=sys.stderr)
            rotation = pii_key.rotate_key(
                target, None, pii_key.transformer_role(settings.root), manifest,
                lambda dbt_args: run_dbt([*dbt_args, "--target", args.target], settings, target_path=target_path,
                                         env=env), install=install)
        if not local:
            admin = replace(AdminIdentity.for_build(args.target), role_arn=args.assume_role)
            apply_access(settings, admin, capture=False, session_name="unify-rotate-pii-key")
    except (pii_key.PiiKeyError, DbtError, AccessApplyError) as err:
        print(f"{name}: {err}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        lock.release()
    print(f"rotated the PII key of target {target.name}: {rotation.before.key_id} -> {rotation.after.key_id}; "
          f"rebuilt {', '.join(m + '+' for m in rotation.rebuilt)}"
          + ("" if local else "; the privileged step applied"))
    return EXIT_OK


def run_key_action(args: argparse.Namespace, settings: Settings) -> int:
    """install-pii-key and rotate-pii-key."""
    from unify.dbt_runner import ensure_profile

    ensure_profile(settings.root)
    secret_id = args.secret_id or os.environ.get("UNIFY_PII_KEY_SECRET_ID") or None
    if args.action == "install-pii-key":
        return _install_key(args, settings, secret_id)
    return _rotate_key(args, settings, secret_id)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.action in ("install-pii-key", "rotate-pii-key"):
        return run_key_action(args, settings)
    if args.action == "apply":
        return run_apply(args, settings)
    prefix = args.schema or dbt_schema()
    if args.action == "local-logins":
        try:
            pairs = create_local_logins(settings, prefix)
        except AccessQueryError as err:
            print(f"unify access local-logins: {err}", file=sys.stderr)
            return EXIT_ERROR
        for user, role in pairs:
            print(f"{user:<40} {role}")
        return EXIT_OK
    try:
        report = show_access(settings, args.user, prefix)
    except AccessQueryError as err:
        print(f"unify access show: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(report.to_json() if args.json else format_report(report))
    if not report.exists:
        print(f"unify access show: {args.user!r} is not a user or role in {settings.url()}", file=sys.stderr)
        return EXIT_NO_USER
    return EXIT_OK
