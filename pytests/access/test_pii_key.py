"""The PII key (#14.1): a real keyed hash, the same on PostgreSQL and Redshift, kept in the warehouse,
installed from Secrets Manager (moto's server over HTTP), rotated with one command.

Test vectors: Python's reference (unify/pii_key.py keyed_hash) against (a) the PostgreSQL rendering of
the keyed_hash macro, compiled by dbt for the local target and executed by PostgreSQL over a VALUES
list, and (b) the Redshift rendering compiled by dbt for the `prod` target offline, parsed by sqlglot's
Redshift dialect and evaluated node by node with the documented semantics (redshift_eval.py). Both
renderings read the key through the same scalar subqueries on the vault, which the vectors fill with
a known key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
import sqlglot
from access_support import ANALYST, FINANCE, TRANSFORMER
from redshift_access_render import render
from redshift_eval import evaluate
from support import query

from unify.dbt_runner import run_dbt
from unify.pii_key import (LOCAL_KEY_FILE, LOCAL_KEY_SOURCE, PiiKey, PiiKeyError, derive_key, fetch_secret_key,
                           install_key, keyed_hash, load_target, local_key, transformer_role, vault_state)

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ["", "a", "ada lovelace", "o'brien-smith", "zoë müller", "渡辺 美咲", "emoji 😀 and tab\t",
           "x" * 64, "y" * 65, "a much longer customer name that spans more than one sha-256 block of 64 bytes"]
SNIPPET = "select {{ unify.keyed_hash('v.value') }} as h from v"
# A fixed test key (never a real one): two 64-hex keys.
TEST_KEY = PiiKey("0f" * 32, "a5" * 32, "test vectors")


def test_reference_is_hmacs_nested_construction_with_a_hex_inner_digest():
    """The reference, spelled out with hashlib, matches HMAC-SHA256 (Python's hmac) structurally: with
    the raw inner digest instead of its hex text and HMAC's padded keys, it is HMAC itself."""
    key = bytes(range(64))
    ipad, opad = bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)
    message = "zoë".encode()
    nested = hashlib.sha256(opad + hashlib.sha256(ipad + message).digest()).hexdigest()
    assert nested == hmac.new(key, message, hashlib.sha256).hexdigest()
    # ours: each key exactly one block of hex text, the inner digest as hex text
    inner = hashlib.sha256((TEST_KEY.inner_key + "zoë").encode()).hexdigest()
    assert keyed_hash(TEST_KEY, "zoë") == hashlib.sha256((TEST_KEY.outer_key + inner).encode()).hexdigest()
    assert len(TEST_KEY.inner_key.encode()) == len(TEST_KEY.outer_key.encode()) == 64  # one SHA-256 block
    assert keyed_hash(TEST_KEY, None) is None
    assert keyed_hash(TEST_KEY, "a") != keyed_hash(PiiKey("0f" * 32, "a6" * 32, "other"), "a")


def test_postgresql_and_redshift_renderings_agree_with_the_reference(database, monkeypatch, tmp_path):
    monkeypatch.setenv("UNIFY_PG_DATABASE", database.pg_database)
    target = load_target(ROOT, ROOT, "local")
    assert target.credentials.database == database.pg_database
    install_key(target, TEST_KEY, transformer_role(ROOT))
    expected = {v: keyed_hash(TEST_KEY, v) for v in VECTORS}

    compiled = run_dbt(["--quiet", "compile", "--inline", SNIPPET], database, target_path=tmp_path / "pg",
                       capture=True).stdout.strip().splitlines()[-1]
    assert "sha256" in compiled and TEST_KEY.inner_key not in compiled
    values = ", ".join(["(%s)"] * len(VECTORS))
    sql = compiled.replace("select ", "select v.value, ", 1).replace(" from v", f" from (values {values}) as v(value)")
    assert dict(query(database, sql, tuple(VECTORS))) == expected
    assert query(database, compiled.replace(" from v", " from (values (null::text)) as v(value)")) == [(None,)]

    redshift_sql = render(ROOT, tmp_path / "rs", {"h": SNIPPET})["h"].sql
    assert "sha2(" in redshift_sql and TEST_KEY.outer_key not in redshift_sql
    tree = sqlglot.parse_one(redshift_sql, read="redshift")
    vault = {"pii_hash_key": [{"inner_key": TEST_KEY.inner_key, "outer_key": TEST_KEY.outer_key}]}
    for value, want in [*expected.items(), (None, None)]:
        assert evaluate(tree.expressions[0], {("v", "value"): value}, vault) == want, value


def test_local_databases_share_the_checkouts_key(secured):
    """unify's dbt runs installed the checkout's key (.unify/pii-hash-key) into the new database's vault, so
    every local database pseudonymises alike; the SQL key_id and the reference agree."""
    (key_id, inner, outer, source), = secured.query(
        "select key_id, inner_key, outer_key, key_source from analytics_pii.pii_hash_key")
    assert PiiKey(inner, outer, source) == local_key(ROOT) and source == LOCAL_KEY_SOURCE
    assert (ROOT / LOCAL_KEY_FILE).stat().st_mode & 0o077 == 0  # readable by its owner only
    assert local_key(ROOT).key_id == key_id
    names = secured.query("select s.customer_key, r.customername from analytics_staging.stg_azureware__orders as s "
                          "inner join raw_azureware.orders as r on r.orderid = s.order_id "
                          "where r.customername is not null limit 20")
    assert names and all(k == keyed_hash(local_key(ROOT), n.strip().lower()) for k, n in names)


def test_a_plain_dbt_build_on_a_fresh_database_generates_a_key_inside_the_warehouse(database, tmp_path):
    """Without unify (dbt run by hand on a new database) the first build's hook generates the key in
    PostgreSQL: it never leaves the database. Its key_id is the reference's for those keys."""
    from unify.dbt_runner import dbt_env, dbt_executable, dbt_process

    env = dbt_env(database, {"DBT_TARGET_PATH": str(tmp_path / "target"), "DBT_LOG_PATH": str(tmp_path / "logs")})
    proc = dbt_process([dbt_executable(), "seed", "--select", "access_team_grants", "--profiles-dir", str(ROOT),
                        "--project-dir", str(ROOT)], ROOT, env, capture=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    (key_id, inner, outer, source), = query(
        database, "select key_id, inner_key, outer_key, key_source from analytics_pii.pii_hash_key")
    assert source == "generated in the local warehouse"
    assert PiiKey(inner, outer, source).key_id == key_id and PiiKey(inner, outer, source) != local_key(ROOT)
    assert inner not in proc.stdout and inner not in (tmp_path / "logs" / "dbt.log").read_text()


def test_only_the_transformer_reads_the_vault(secured):
    assert secured.query("select count(*) from analytics_pii.pii_hash_key", login=TRANSFORMER) == [(1,)]
    for login in (ANALYST, FINANCE):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            secured.query("select inner_key from analytics_pii.pii_hash_key", login=login)
    grantees = {g for (g,) in secured.query(
        "select grantee from information_schema.role_table_grants where table_schema = 'analytics_pii'")}
    assert grantees == {"unify_transformer", secured.settings.pg_user}


def test_install_from_secrets_manager_over_http(s3_endpoint, database, monkeypatch):
    import boto3

    client = boto3.client("secretsmanager")
    secret = "correct horse battery staple, but longer and random: 7a1f"
    arn = client.create_secret(Name="unify/test/pii-key", SecretString=secret)["ARN"]
    key = fetch_secret_key("unify/test/pii-key")
    assert key.source.startswith("secretsmanager:unify/test/pii-key version ")
    assert key == derive_key(secret, key.source) and secret not in repr(key)
    monkeypatch.setenv("UNIFY_PG_DATABASE", database.pg_database)
    target = load_target(ROOT, ROOT, "local")
    state = install_key(target, key, transformer_role(ROOT))
    assert vault_state(target) == state and state.keys == 1 and state.key_id == key.key_id
    # A new version of the secret is a new key (rotation starts there).
    client.put_secret_value(SecretId=arn, SecretString=secret + " rotated")
    assert fetch_secret_key(arn).key_id != key.key_id
    with pytest.raises(PiiKeyError, match="ResourceNotFoundException") as missing:
        fetch_secret_key("unify/test/no-such-secret")
    assert secret not in str(missing.value)
    client.create_secret(Name="unify/test/short", SecretString="too short")
    with pytest.raises(PiiKeyError, match="at least 32"):
        fetch_secret_key("unify/test/short")


def test_rotation_rekeys_every_pseudonymised_column_and_keeps_joins(secured, tmp_path):
    """`unify access rotate-pii-key` on the local target: a new key in the vault, every hash rebuilt
    with it (staging and the marts that carry them), joins between them intact, no hash of the old key
    left anywhere."""
    (old_inner, old_outer, old_id), = secured.query(
        "select inner_key, outer_key, key_id from analytics_pii.pii_hash_key")
    old_key = PiiKey(old_inner, old_outer, "old")
    raw_names = {n.strip().lower() for (n,) in secured.query(
        "select customername from raw_azureware.orders where customername is not null")}
    raw_emails = {e.strip().lower() for (e,) in secured.query(
        "select email from raw_salesforce.users where email is not null")}
    old_hashes = {keyed_hash(old_key, v) for v in raw_names | raw_emails}
    hashed_columns = [("analytics_staging", "stg_azureware__orders", "customer_key"),
                      ("analytics_marts", "fct_orders", "customer_key"),
                      ("analytics_staging", "stg_salesforce__users", "email_key"),
                      ("analytics_marts", "dim_account_manager", "email_key")]
    before = {c: {v for (v,) in secured.query(f"select {c[2]} from {c[0]}.{c[1]} where {c[2]} is not null")}
              for c in hashed_columns}
    assert all(before.values()) and all(v <= old_hashes for v in before.values())

    env = dict(os.environ, UNIFY_PG_DATABASE=secured.settings.pg_database,
               DBT_TARGET_PATH=str(tmp_path / "target"), **secured.env())
    proc = subprocess.run([sys.executable, "-m", "unify.cli", "access", "rotate-pii-key"], env=env, text=True,
                          capture_output=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert f"{old_id} -> " in proc.stdout and "stg_azureware__orders+" in proc.stdout

    (new_inner, new_outer, new_id, count), = secured.query(
        "select inner_key, outer_key, key_id, count(*) over () from analytics_pii.pii_hash_key")
    new_key = PiiKey(new_inner, new_outer, "new")
    assert count == 1 and new_id != old_id and new_key.key_id == new_id
    for (schema, table, column), old_values in before.items():
        now = {v for (v,) in secured.query(f"select {column} from {schema}.{table} where {column} is not null")}
        assert now and not now & old_hashes, f"{table}.{column} keeps hashes of the old key"
        assert len(now) == len(old_values), f"{table}.{column}: the re-keyed values no longer tell the same people apart"
    rows = secured.query("select s.customer_key, r.customername from analytics_staging.stg_azureware__orders as s "
                         "inner join raw_azureware.orders as r on r.orderid = s.order_id where r.customername is not null")
    assert all(k == keyed_hash(new_key, n.strip().lower()) for k, n in rows)
    # joins still line up: every mart hash is a staging hash of the same entity
    assert secured.query("select count(*) from analytics_marts.fct_orders as f inner join "
                         "analytics_staging.stg_azureware__orders as s on s.order_id = f.order_id "
                         "where f.customer_key is distinct from s.customer_key") == [(0,)]
    assert secured.query("select count(*) from analytics_marts.dim_account_manager as d inner join "
                         "analytics_staging.stg_salesforce__users as u on u.user_id = d.user_id "
                         "where d.email_key is distinct from u.email_key") == [(0,)]
    # the old key is gone from everywhere a reader or the transformer could look
    leftovers = []
    for schema, table, column in secured.query(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema like 'analytics%%' and data_type in ('character varying', 'text', 'character')"):
        values = {v for (v,) in secured.query(f'select distinct "{column}" from "{schema}"."{table}"')}
        if values & ({old_inner, old_outer} | old_hashes):
            leftovers.append(f"{schema}.{table}.{column}")
    assert not leftovers, leftovers


class _FakeRedshift:
    """Stands in for redshift_connector's connection: records (statement, parameters)."""

    def __init__(self, **kwargs):
        self.kwargs, self.sent, self.committed, self.autocommit = kwargs, [], False, False

    def cursor(self):
        return self

    def execute(self, statement, parameters=None):
        self.sent.append((statement, parameters))

    def commit(self):
        self.committed = True

    def rollback(self):
        pass

    def close(self):
        pass


def test_install_on_redshift_sends_the_key_as_bound_parameters_only(monkeypatch, tmp_path):
    """The Redshift path, offline: the prod profile's own connection settings (dbt's connect method), one
    transaction, and the key only in the bound parameters of the INSERT (placeholders in the SQL text,
    which is all Redshift's query history records); the statements parse as Redshift SQL."""
    import shutil

    import redshift_connector

    from unify.checks.redshift_gate import offline_env

    for name, value in offline_env(ROOT / "profiles.yml.example").items():
        monkeypatch.setenv(name, value)
    shutil.copyfile(ROOT / "profiles.yml.example", tmp_path / "profiles.yml")
    fakes = []
    monkeypatch.setattr(redshift_connector, "connect", lambda **kw: fakes.append(_FakeRedshift(**kw)) or fakes[-1])
    target = load_target(ROOT, tmp_path, "prod")
    assert (target.type, target.vault) == ("redshift", '"analytics_pii"."pii_hash_key"')
    state = install_key(target, TEST_KEY, transformer_role(ROOT))
    (conn,) = fakes
    assert conn.committed and not conn.autocommit and conn.kwargs["host"] == "redshift-gate.invalid"
    assert state.key_id == TEST_KEY.key_id
    texts = [statement for statement, _ in conn.sent]
    assert not [t for t in texts if TEST_KEY.inner_key in t or TEST_KEY.outer_key in t]
    (insert, parameters), = [(s, p) for s, p in conn.sent if s.startswith("insert")]
    assert insert.endswith("values (%s, %s, %s, %s, %s)")
    assert parameters[:4] == (TEST_KEY.key_id, TEST_KEY.inner_key, TEST_KEY.outer_key, TEST_KEY.source)
    assert 'grant select on "analytics_pii"."pii_hash_key" to role "unify_transformer"' in texts
    assert "revoke all on schema \"analytics_pii\" from public" in texts
    assert texts.index(insert) > texts.index('delete from "analytics_pii"."pii_hash_key"')
    for statement in texts:
        if statement.startswith(("grant", "revoke", "delete", "insert")):
            sqlglot.parse_one(statement.replace("%s", "'x'"), read="redshift")


def test_rotation_refuses_when_a_snapshot_would_keep_old_pseudonyms():
    from unify.pii_key import KEYED_HASH_MACRO, rotate_key

    manifest = {"metadata": {"project_name": "p"}, "nodes": {
        "model.p.stg": {"name": "stg", "resource_type": "model", "package_name": "p",
                        "depends_on": {"macros": [KEYED_HASH_MACRO]}},
        "model.p.mart": {"name": "mart", "resource_type": "model", "package_name": "p", "depends_on": {"macros": []}},
        "snapshot.p.snap_mart": {"name": "snap_mart", "resource_type": "snapshot", "package_name": "p",
                                 "depends_on": {"macros": []}}},
        "child_map": {"model.p.stg": ["model.p.mart"], "model.p.mart": ["snapshot.p.snap_mart"],
                      "snapshot.p.snap_mart": []}}
    with pytest.raises(PiiKeyError, match="snap_mart"):
        rotate_key(None, TEST_KEY, "unify_transformer", manifest, lambda args: pytest.fail("nothing may be built"))


def test_the_local_key_is_prepared_only_for_local_builds_of_a_project_with_a_vault(warehouse, tmp_path):
    """unify.dbt_runner's hook (prepare_local_key) connects only when dbt is about to build on the local
    target in a project that keeps a vault: never for compile, docs or other targets, nor for the small
    projects tests build. A warehouse nobody listens on proves it: any attempt would fail."""
    import dataclasses

    from support import free_port

    from unify.dbt_runner import DbtError
    from unify.pii_key import prepare_local_key

    nowhere = dataclasses.replace(warehouse, pg_port=free_port())
    for args, env in ((["compile"], {}), (["docs", "generate"], {}), (["build", "--target", "prod"], {}),
                      (["run"], {"DBT_TARGET": "ci"}), (["run-operation", "apply_access"], {})):
        prepare_local_key(args, env, nowhere)
    (tmp_path / "dbt_project.yml").write_text("name: tiny\nprofile: unify\n")
    prepare_local_key(["build"], {}, dataclasses.replace(nowhere, root=tmp_path))
    with pytest.raises(DbtError, match="installing the local PII key before `dbt build`"):
        prepare_local_key(["build"], {}, nowhere)
