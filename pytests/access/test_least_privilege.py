"""Least privilege on a real warehouse (#14.2, #14.1): a developer's build outside the local target runs as an
ordinary login, needs an installed PII key, leaves row-secured tables closed to readers, and the
privileged step opens them only once their policies are on.

PostgreSQL stands in for Redshift with a profile whose target is named `dev` (every target but `local`
follows the non-local rules): its user is a fresh non-superuser login holding the transformer role (to
read raw, as a developer does) and CREATE on the database, its schema a fresh `dev_<token>`. The key
comes from moto's Secrets Manager over HTTP. The privileged step runs as the superuser, as on
PostgreSQL only a table's owner or a superuser may manage its policies.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import psycopg2
import pytest
import yaml
from access_support import FINANCE, SALES_DIRECTOR

from unify.dbt_runner import dbt_env, dbt_executable, dbt_process
from unify.pii_key import fetch_secret_key, install_key, load_target, transformer_role
from unify.simulate.reference import ACCOUNT_MANAGERS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dev(secured, tmp_path_factory):
    """A developer: login, profile (targets `dev` as them and `dev_admin` as the superuser), schema."""
    from psycopg2 import sql

    token = uuid.uuid4().hex[:8]
    login, schema = f"{secured.prefix}dev_{token}", f"dev_{token}"
    secured.execute(sql.SQL("create role {} login in role unify_transformer").format(sql.Identifier(login)))
    secured.execute(sql.SQL("grant create on database {} to {}").format(
        sql.Identifier(secured.settings.pg_database), sql.Identifier(login)))
    folder = tmp_path_factory.mktemp("dev-profile")
    output = {"type": "postgres", "host": secured.settings.pg_host, "port": secured.settings.pg_port,
              "dbname": secured.settings.pg_database, "schema": schema, "threads": 4, "password": ""}
    (folder / "profiles.yml").write_text(yaml.safe_dump({"unify": {"target": "dev", "outputs": {
        "dev": {**output, "user": login}, "dev_admin": {**output, "user": secured.settings.pg_user}}}}))
    yield {"login": login, "schema": schema, "profiles": folder, "target_path": folder / "target"}
    conn = secured.connect()
    with conn.cursor() as cur:
        cur.execute("select nspname from pg_namespace where nspname like %s", (schema + "%",))
        for (name,) in cur.fetchall():
            cur.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(name)))
        cur.execute(sql.SQL("revoke create on database {} from {}").format(
            sql.Identifier(secured.settings.pg_database), sql.Identifier(login)))
        cur.execute(sql.SQL("drop role {}").format(sql.Identifier(login)))
    conn.close()


def dbt(secured, dev, *args: str, target: str = "dev", secret_id: str | None = None) -> subprocess.CompletedProcess:
    env = dbt_env(secured.settings, {**secured.env(), "DBT_TARGET_PATH": str(dev["target_path"]),
                                     "DBT_LOG_PATH": str(dev["target_path"] / "logs")})
    env.pop("UNIFY_PII_KEY_SECRET_ID", None)
    if secret_id:
        env["UNIFY_PII_KEY_SECRET_ID"] = secret_id
    return dbt_process([dbt_executable(), *args, "--target", target, "--profiles-dir", str(dev["profiles"]),
                        "--project-dir", str(ROOT)], ROOT, env, capture=True)


def dev_tables(secured, dev) -> list[str]:
    return [t for (t,) in secured.query(
        "select table_schema || '.' || table_name from information_schema.tables where table_schema like %s "
        "and table_schema <> %s", (dev["schema"] + "\\_%", dev["schema"] + "_pii"))]


def test_a_developer_builds_as_an_ordinary_login_and_readers_wait_for_the_privileged_step(secured, dev, s3_endpoint):
    import boto3

    login = dev["login"]
    assert secured.query("select rolsuper, rolcreaterole, rolbypassrls from pg_roles where rolname = %s",
                         (login,)) == [(False, False, False)]
    # 1. Without a configured key the build fails before anything runs.
    proc = dbt(secured, dev, "build")
    assert proc.returncode != 0 and "PII key not configured for target 'dev'" in proc.stdout, proc.stdout[-2000:]
    assert dev_tables(secured, dev) == []
    # 2. Configured but not installed: fails at the start of the run, nothing built.
    secret_id = f"unify/dev/{dev['schema']}/pii-key"
    boto3.client("secretsmanager").create_secret(Name=secret_id, SecretString=uuid.uuid4().hex + uuid.uuid4().hex)
    proc = dbt(secured, dev, "build", secret_id=secret_id)
    assert proc.returncode != 0 and "No PII key installed for target 'dev'" in proc.stdout, proc.stdout[-2000:]
    assert dev_tables(secured, dev) == []
    # 3. Installed by the developer (into their own schema) from Secrets Manager.
    os.environ["UNIFY_PII_KEY_SECRET_ID"] = secret_id
    try:
        target = load_target(ROOT, dev["profiles"], "dev")
    finally:
        del os.environ["UNIFY_PII_KEY_SECRET_ID"]
    assert target.credentials.user == login and target.vault_schema == dev["schema"] + "_pii"
    install_key(target, fetch_secret_key(secret_id), transformer_role(ROOT))
    # 4. The build succeeds as the ordinary login: it needed no security-admin statement.
    proc = dbt(secured, dev, "build", secret_id=secret_id)
    assert proc.returncode == 0, proc.stdout[-4000:]
    marts = f"{dev['schema']}_marts"
    assert f"{marts}.fct_orders" in dev_tables(secured, dev)
    assert secured.query("select count(*) from pg_policy as p inner join pg_class as c on c.oid = p.polrelid "
                         "inner join pg_namespace as n on n.oid = c.relnamespace where n.nspname = %s",
                         (marts,)) == [(0,)]
    # 5. Fail closed: no reader may read a row-secured table the build made; other tables are granted.
    manager = next(u.username for u in ACCOUNT_MANAGERS
                   if secured.query("select count(*) from analytics_access.access_client_grants where user_name = %s",
                                    (secured.user(u.username),))[0][0])
    for person in (manager, FINANCE):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            secured.query(f"select count(*) from {marts}.fct_orders", login=person)
        assert secured.query(f"select count(*) from {marts}.dim_date", login=person)[0][0] > 0
    # 6. The privileged step secures each table, then grants its readers.
    proc = dbt(secured, dev, "run-operation", "apply_access", target="dev_admin", secret_id=secret_id)
    # every model whose yml asks for row-level security (meta.rls_client_column), as the manifest says
    manifest = json.loads((Path(secured.target_path) / "manifest.json").read_text())
    row_secured = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"
                   and ({**n.get("meta", {}), **n["config"].get("meta", {})}).get("rls_client_column")]
    assert len(row_secured) >= 9
    assert (proc.returncode == 0
            and f"row-level security and reader grants on {len(row_secured)} tables" in proc.stdout), proc.stdout
    mine = {c for (c,) in secured.query(f"select client_id from {dev['schema']}_access.access_client_grants "
                                        "where user_name = %s", (secured.user(manager),))}
    seen = {c for (c,) in secured.query(f"select distinct client_id from {marts}.fct_orders", login=manager)}
    assert seen == mine and mine
    assert secured.query(f"select count(*) from {marts}.fct_orders", login=SALES_DIRECTOR) == [(0,)]
    total = secured.query(f"select count(client_id) from {marts}.fct_orders")[0][0]
    assert secured.query(f"select count(*) from {marts}.fct_orders", login=FINANCE) == [(total,)]
    # 7. A rebuild replaces the table models: closed to readers again until the next privileged step;
    #    the incremental fct_orders keeps its table, its policy and the readers' grant.
    proc = dbt(secured, dev, "run", "--select", "dim_client", "fct_orders", secret_id=secret_id)
    assert proc.returncode == 0, proc.stdout[-3000:]
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        secured.query(f"select count(*) from {marts}.dim_client", login=manager)
    assert {c for (c,) in secured.query(f"select distinct client_id from {marts}.fct_orders", login=manager)} == mine
