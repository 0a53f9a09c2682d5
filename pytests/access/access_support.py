"""Helpers of the access-control tests (a uniquely named module: tests import it by name, never conftest):
who is who in the simulation and which role each person gets, the `Secured` warehouse the `secured`
fixture builds (pytests/access/conftest.py says how), and the login roles that stand for people.

dbt connects as the `postgres` superuser (which bypasses row-level security by PostgreSQL's rules);
the tests query as the non-superuser logins, like the people they stand for.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from loaders.config import Settings
from unify.simulate.reference import ACCOUNT_MANAGERS, OTHER_USERS

FIRST_DAY = date(2026, 10, 27)
AS_OF_AT = "2026-11-06 00:00:00"
QUICKSIGHT_SERVICE = "quicksight_service"  # seeds/access_team_grants.csv

# Who is who in the simulation (unify/simulate/reference.py) and which warehouse role each gets.
FINANCE = "hannah.kim@glc.example"
ANALYST = "oliver.grant@glc.example"
EXECUTIVE = "chloe.dubois@glc.example"
SALES_DIRECTOR = "daniel.reyes@glc.example"  # account-manager role, owns no account: unmapped
INTEGRATION = "integration.appflow@glc.example"  # no role at all
UNMAPPED_ANALYST = "unmapped.analyst@glc.example"  # analyst role, in no mapping
LOADER = "loader.service"
TRANSFORMER = "transformer.service"


def role_plan() -> dict[str, list[str]]:
    """login (unprefixed) -> project roles granted to it."""
    plan = {u.username: ["unify_account_manager"] for u in ACCOUNT_MANAGERS}
    plan.update({
        FINANCE: ["unify_finance"], ANALYST: ["unify_analyst"], EXECUTIVE: ["unify_executive"],
        SALES_DIRECTOR: ["unify_account_manager"], INTEGRATION: [], UNMAPPED_ANALYST: ["unify_analyst"],
        QUICKSIGHT_SERVICE: ["unify_quicksight"], LOADER: ["unify_loader"], TRANSFORMER: ["unify_transformer"],
    })
    assert {u.username for u in OTHER_USERS} <= set(plan)
    return plan


@dataclass
class Secured:
    """The built warehouse and the logins that stand for people."""

    settings: Settings
    target_path: Path
    prefix: str
    logins: dict[str, list[str]]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        """Every log record of the main job (all loggers, all levels), one formatted line each."""
        return self.target_path.parent / "main-job.log"

    @property
    def say_path(self) -> Path:
        """What the main job printed (its progress lines and summary)."""
        return self.target_path.parent / "main-job.out"

    def user(self, login: str) -> str:
        """Warehouse user name of a person: the session prefix + their login."""
        return self.prefix + login

    def env(self) -> dict[str, str]:
        return {"UNIFY_AS_OF_AT": AS_OF_AT, "UNIFY_INCREMENTAL_LOOKBACK_MINUTES": "0",
                "UNIFY_ACCESS_USER_NAME_PREFIX": self.prefix}

    def connect(self, login: str | None = None):
        """A connection as a person (their prefixed warehouse user) or, without a login, as dbt's superuser."""
        import psycopg2

        conn = psycopg2.connect(self.settings.dsn(user=self.user(login)) if login else self.settings.dsn())
        conn.autocommit = True
        return conn

    def query(self, sql: str, params: tuple = (), login: str | None = None) -> list[tuple]:
        conn = self.connect(login)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()

    def execute(self, sql: str, params: tuple = (), login: str | None = None) -> None:
        conn = self.connect(login)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
        finally:
            conn.close()

    def manifest(self) -> dict:
        return json.loads((self.target_path / "manifest.json").read_text())

    def row_secured_models(self) -> dict[str, str]:
        """model name -> relation, for every model whose yml sets meta.rls_client_column."""
        found = {}
        for node in self.manifest()["nodes"].values():
            if node["resource_type"] == "model" and (node["config"].get("meta") or {}).get("rls_client_column"):
                found[node["name"]] = f"{node['schema']}.{node['alias']}"
        return found


def expected_owned_clients(secured: Secured) -> dict[str, set[int]]:
    """login -> client ids whose Salesforce account they own, from staging, computed here in Python:
    a client's account is the oldest non-deleted account whose WMS_Client_Code__c is its ClientCode;
    its owner must be an active, non-deleted user."""
    clients = secured.query("select client_id, client_code from analytics_staging.stg_azureware__clients")
    accounts = secured.query(
        "select account_id, wms_client_code, owner_user_id, created_at, is_deleted "
        "from analytics_staging.stg_salesforce__accounts")
    users = {uid: (name, active, deleted) for uid, name, active, deleted in secured.query(
        "select user_id, username, is_active, is_deleted from analytics_staging.stg_salesforce__users")}
    owned: dict[str, set[int]] = {}
    for client_id, code in clients:
        candidates = sorted((created, aid, owner) for aid, wms, owner, created, deleted in accounts
                            if wms == code and not deleted)
        if not candidates:
            continue
        name, active, deleted = users.get(candidates[0][2], (None, False, True))
        if name and active and not deleted:
            owned.setdefault(name, set()).add(client_id)
    return owned


def rows_by_client(secured: Secured, relation: str, login: str | None = None,
                   only: set[int] | None = None) -> Counter:
    """client_id -> row count of `relation`, as `login` (None: dbt's superuser, restricted to `only`)."""
    rows = secured.query(f"select client_id, count(*) from {relation} group by client_id", login=login)
    return Counter({client: n for client, n in rows if only is None or client in only})


@contextmanager
def captured_logs(path: Path):
    """Every log record emitted meanwhile, by any logger at any level, written to `path` (message,
    exception and the structured fields of loaders' events)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def create_logins(settings: Settings, prefix: str, plan: dict[str, list[str]]) -> None:
    """LOGIN roles `<prefix><login>` holding exactly the planned project roles: unify.access's one login
    rule (create_logins), with a plan that adds people the mapping does not know."""
    from unify.access import create_logins as create

    create(settings, {prefix + login: roles for login, roles in plan.items()})


def drop_logins(settings: Settings, prefix: str, plan: dict[str, list[str]]) -> None:
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(settings.dsn(database="postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for login in plan:
                cur.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(prefix + login)))
    finally:
        conn.close()
