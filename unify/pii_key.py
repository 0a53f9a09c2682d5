"""The key of the keyed hash that pseudonymises PII: its construction, where it lives, how it gets there.

The construction (macros/pii/keyed_hash_with.sql renders it for Redshift and PostgreSQL; `keyed_hash`
here is the reference the tests compare both renderings with):

    keyed_hash(value) = hex(SHA-256(outer_key || hex(SHA-256(inner_key || utf8(value)))))

inner_key and outer_key are independent 256-bit keys written as 64 lowercase hex characters, so each
fills exactly one SHA-256 block: HMAC's nested structure with independent keys (NMAC). The inner
digest is passed on as hex text because Redshift's SHA2 hashes VARCHAR only (docs/access-control.md,
"The PII key", explains why this is as strong as HMAC for pseudonymisation).

Where it lives: in the warehouse, in the key vault `<dbt schema>_pii.pii_hash_key` (one row, closed to
PUBLIC, readable by the transformer role), which the staging models read at run time. dbt never
sees the key: only the vault's name is in compiled SQL, manifests, the docs site and logs.

How it gets there (`unify access install-pii-key`):
- from AWS Secrets Manager (`--secret-id`, default UNIFY_PII_KEY_SECRET_ID): the secret string (any
  string of at least 32 characters, e.g. `aws secretsmanager get-random-password`) is turned into the
  two keys with HMAC-SHA256 under two fixed labels, so the secret itself is never stored anywhere else;
- on the local target: the checkout's local key, `.unify/pii-hash-key` (git-ignored, mode 0600), generated
  once with Python's `secrets`; `unify`'s dbt runs install it into every local database whose vault is
  empty (ensure_local_key), so every local database and test warehouse of a checkout pseudonymises
  alike and their results compare. A plain `dbt build` on a fresh database generates a key inside the
  warehouse instead (macros/pii/ensure_pii_key.sql).
Writing never puts the key into SQL text: PostgreSQL receives the row through COPY FROM STDIN, Redshift
as bound parameters of a prepared statement (redshift_connector's extended protocol), so neither
server logs nor Redshift's query history (SYS_QUERY_HISTORY, STL_QUERYTEXT) hold it.

`unify access rotate-pii-key` takes the cycle lock, installs a new key and rebuilds, with --full-refresh,
every model that pseudonymises PII and everything downstream of them (unify/access.py).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import yaml

log = logging.getLogger(__name__)

KEY_ID_LABEL = "unify pii key id"  # key_id = the keyed hash of this constant, first 16 characters
INNER_LABEL, OUTER_LABEL = b"unify pii inner key", b"unify pii outer key"  # HMAC labels for derivation
VAULT_SCHEMA_SUFFIX, VAULT_TABLE = "_pii", "pii_hash_key"
MIN_SECRET_CHARS = 32
KEYED_HASH_MACRO = "macro.unify.keyed_hash"
# The vault's columns (macros/pii/local_pii_key_sql.sql creates the same table on the local target).
VAULT_COLUMNS = ("key_id varchar(16) not null", "inner_key varchar(64) not null",
                 "outer_key varchar(64) not null", "key_source varchar(512) not null",
                 "installed_at timestamp not null")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_HEX_KEY = re.compile(r"^[0-9a-f]{64}$")


class PiiKeyError(Exception):
    """The key could not be read, derived, installed or checked; says which and why, never the key."""


@dataclass(frozen=True, repr=False)
class PiiKey:
    """The two keys and where they came from. repr() and str() show the key_id only."""

    inner_key: str
    outer_key: str
    source: str

    def __post_init__(self) -> None:
        if not (_HEX_KEY.match(self.inner_key) and _HEX_KEY.match(self.outer_key)):
            raise PiiKeyError("a PII key is two 256-bit keys of 64 lowercase hex characters each")

    @property
    def key_id(self) -> str:
        return keyed_hash(self, KEY_ID_LABEL)[:16]

    def __repr__(self) -> str:
        return f"PiiKey(key_id={self.key_id!r}, source={self.source!r})"

    __str__ = __repr__


def keyed_hash(key: PiiKey, value: str | None) -> str | None:
    """The reference implementation of the keyed hash (null in, null out)."""
    if value is None:
        return None
    inner = hashlib.sha256((key.inner_key + value).encode("utf-8")).hexdigest()
    return hashlib.sha256((key.outer_key + inner).encode("utf-8")).hexdigest()


def derive_key(secret: str, source: str) -> PiiKey:
    """The two keys from a secret string: HMAC-SHA256(secret, label) for two fixed labels."""
    if len(secret) < MIN_SECRET_CHARS:
        raise PiiKeyError(f"the secret from {source} has {len(secret)} characters; at least "
                          f"{MIN_SECRET_CHARS} are required (e.g. aws secretsmanager get-random-password)")
    material = secret.encode("utf-8")
    return PiiKey(hmac.new(material, INNER_LABEL, hashlib.sha256).hexdigest(),
                  hmac.new(material, OUTER_LABEL, hashlib.sha256).hexdigest(), source)


def generate_key(source: str = "generated by unify access") -> PiiKey:
    """A fresh random key (Python's secrets: the operating system's CSPRNG)."""
    return PiiKey(secrets.token_hex(32), secrets.token_hex(32), source)


LOCAL_KEY_FILE = Path(".unify") / "pii-hash-key"  # relative to the project root: one per checkout
LOCAL_KEY_SOURCE = "local key file .unify/pii-hash-key"


def local_key(root: Path) -> PiiKey:
    """The checkout's local key (root/.unify/pii-hash-key), created on first use: two 64-hex keys on one
    line, mode 0600. Created atomically (written aside, then linked into place), so concurrent first
    uses agree on one key."""
    import os
    import tempfile

    path = root / LOCAL_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = generate_key(LOCAL_KEY_SOURCE)
        fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=".pii-hash-key-")
        try:
            with os.fdopen(fd, "w") as handle:  # mkstemp: mode 0600
                handle.write(f"{fresh.inner_key} {fresh.outer_key}\n")
            try:
                os.link(scratch, path)
            except FileExistsError:
                pass  # another process created it first: use theirs
        finally:
            os.unlink(scratch)
    try:
        inner, outer = path.read_text().split()
    except ValueError:
        raise PiiKeyError(f"{path} must hold two 64-hex keys on one line; delete it to generate a new one") from None
    return PiiKey(inner, outer, LOCAL_KEY_SOURCE)


def ensure_local_key(settings, schema: str) -> VaultState:
    """Install the checkout's local key into the local database's vault when the vault is empty (a new
    database); a vault that holds a key is left alone (replacing a key means rebuilding every
    pseudonymised table: rotate_key)."""
    target = local_target(settings, schema)
    state = vault_state(target)
    if state.keys:
        return state
    return install_key(target, local_key(settings.root), transformer_role(settings.root))


BUILDING_COMMANDS = ("build", "run", "seed", "snapshot", "test", "retry")
DBT_COMMANDS = (*BUILDING_COMMANDS, "compile", "parse", "ls", "list", "docs", "source", "run-operation", "show",
                "debug", "deps", "clean", "init", "clone")


def uses_key_vault(root: Path) -> bool:
    """Whether the dbt project at `root` keeps a PII key vault (its on-run-start runs ensure_pii_key);
    tests also run small projects of their own, which do not."""
    project = yaml.safe_load((root / "dbt_project.yml").read_text()) or {}
    return "ensure_pii_key" in str(project.get("on-run-start") or "")


def prepare_local_key(args: list[str], env: dict[str, str], settings) -> None:
    """Before `dbt <args>` (unify.dbt_runner.run_dbt): when it builds on the local target (no --target, or
    local; DBT_TARGET likewise), the checkout's key goes into the database's vault if that is empty.
    Raises DbtError when it cannot."""
    from unify.dbt_runner import DbtError, dbt_schema

    # dbt's subcommand: global options such as `--log-format json` may come before it
    command = next((a for a in args if a in DBT_COMMANDS), None)
    target = args[args.index("--target") + 1] if "--target" in args[:-1] else env.get("DBT_TARGET") or "local"
    if command not in BUILDING_COMMANDS or target != "local" or not uses_key_vault(settings.root):
        return
    try:
        ensure_local_key(settings, dbt_schema(env))
    except PiiKeyError as err:
        raise DbtError(f"installing the local PII key before `dbt {' '.join(args)}`: {err}") from None


def local_target(settings, schema: str) -> "WarehouseTarget":
    """The local warehouse of `settings` as a target with dbt schema `schema`."""
    from types import SimpleNamespace

    credentials = SimpleNamespace(host=settings.pg_host, port=settings.pg_port, user=settings.pg_user,
                                  password=settings.pg_password, database=settings.pg_database, connect_timeout=10)
    return WarehouseTarget("local", "postgres", schema, credentials)


def secret_source(secret_id: str) -> str:
    """How the vault records a key from Secrets Manager (macros/pii/ensure_pii_key.sql checks the prefix)."""
    return f"secretsmanager:{secret_id} version "


def fetch_secret_key(secret_id: str, client=None) -> PiiKey:
    """The key derived from the current version of a Secrets Manager secret (boto3; AWS_ENDPOINT_URL
    and the usual AWS settings apply, so tests point it at moto's server)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    if client is None:
        client = boto3.client("secretsmanager", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    try:
        response = client.get_secret_value(SecretId=secret_id)
    except ClientError as err:
        error = err.response.get("Error", {})
        raise PiiKeyError(f"Secrets Manager secret {secret_id!r}: {error.get('Code')}: "
                          f"{error.get('Message')}") from None
    except BotoCoreError as err:
        raise PiiKeyError(f"Secrets Manager secret {secret_id!r}: {err}") from None
    secret = response.get("SecretString")
    if secret is None:
        raise PiiKeyError(f"Secrets Manager secret {secret_id!r} holds binary data; store the key as a string")
    return derive_key(secret, secret_source(secret_id) + str(response.get("VersionId")))


# ------------------------------------------------------------------------------------------ targets


@dataclass(frozen=True)
class WarehouseTarget:
    """A dbt target of the project's profile: which warehouse, and the schema the vault belongs to."""

    name: str
    type: str  # postgres | redshift
    schema: str  # dbt's target schema; the vault is <schema>_pii.pii_hash_key
    credentials: object  # dbt's credentials for the target (connection settings; no key material)

    @property
    def vault_schema(self) -> str:
        return self.schema + VAULT_SCHEMA_SUFFIX

    @property
    def vault(self) -> str:
        return f"{quote_ident(self.vault_schema)}.{quote_ident(VAULT_TABLE)}"


def quote_ident(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise PiiKeyError(f"{name!r} is not a plain identifier (letters, digits, _ and $)")
    return '"' + name + '"'


def load_target(project_dir: Path, profiles_dir: Path, target: str) -> WarehouseTarget:
    """The dbt profile's `target`, rendered by dbt itself (env_var() and all), without connecting."""
    import argparse
    import os

    from dbt.config.profile import Profile, read_profile
    from dbt.config.renderer import ProfileRenderer
    from dbt.exceptions import DbtRuntimeError
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    set_invocation_context(os.environ)
    set_from_args(argparse.Namespace(profiles_dir=str(profiles_dir)), {})
    profile_name = yaml.safe_load((project_dir / "dbt_project.yml").read_text())["profile"]
    try:
        profile = Profile.from_raw_profiles(raw_profiles=read_profile(str(profiles_dir)), profile_name=profile_name,
                                            renderer=ProfileRenderer({}), target_override=target)
    except DbtRuntimeError as err:
        raise PiiKeyError(f"dbt profile {profile_name!r}, target {target!r} ({profiles_dir}): "
                          f"{str(err).strip()}") from None
    credentials = profile.credentials
    return WarehouseTarget(target, credentials.type, credentials.schema, credentials)


def transformer_role(project_dir: Path) -> str:
    """dbt_project.yml's var access_transformer_role: the role that reads the vault."""
    from unify.access import project_vars

    role = str(project_vars(project_dir).get("access_transformer_role") or "")
    quote_ident(role)
    return role


# ---------------------------------------------------------------------------------------- the vault


@dataclass(frozen=True)
class VaultState:
    """What a vault holds, without the key: how many keys, and the one's id and source."""

    keys: int
    key_id: str | None
    source: str | None
    installed_at: datetime | None


def _setup_sql(target: WarehouseTarget, role: str | None) -> list[str]:
    """Create the vault when missing, closed to PUBLIC and readable by the transformer role (None: the
    role does not exist yet; the first build's hook grants it, macros/pii/local_pii_key_sql.sql)."""
    schema = quote_ident(target.vault_schema)
    grantee = ("role " if target.type == "redshift" else "") + quote_ident(role) if role is not None else ""
    table_options = " diststyle all" if target.type == "redshift" else ""
    statements = [
        f"create schema if not exists {schema}",
        f"revoke all on schema {schema} from public",
        f"create table if not exists {target.vault} ({', '.join(VAULT_COLUMNS)}){table_options}",
        f"revoke all on {target.vault} from public",
    ]
    if role is not None:
        statements += [f"grant usage on schema {schema} to {grantee}", f"grant select on {target.vault} to {grantee}"]
    if target.type == "postgres":  # at most one row (Redshift has no expression indexes; one writer)
        statements.insert(3, f"create unique index if not exists pii_hash_key_one_row on {target.vault} ((true))")
    return statements


def _state_sql(target: WarehouseTarget) -> str:
    return (f"select count(*) over (), key_id, key_source, installed_at from {target.vault} "
            "order by installed_at desc limit 1")


def _connect(target: WarehouseTarget):
    """A DB-API connection to the target, transactions on (autocommit off)."""
    c = target.credentials
    if target.type == "postgres":
        import psycopg2

        try:
            return psycopg2.connect(host=c.host, port=c.port, user=c.user, password=c.password or None,
                                    dbname=c.database, connect_timeout=c.connect_timeout or 10)
        except psycopg2.Error as err:
            raise PiiKeyError(f"cannot connect to target {target.name!r}: {str(err).strip()}") from None
    if target.type == "redshift":
        from dbt.adapters.redshift.connections import get_connection_method

        try:
            conn = get_connection_method(c)()
        except Exception as err:  # redshift_connector and the IAM calls raise many types
            raise PiiKeyError(f"cannot connect to target {target.name!r}: {err}") from None
        conn.autocommit = False
        return conn
    raise PiiKeyError(f"target {target.name!r} is a {target.type} target; the key vault supports "
                      "postgres and redshift")


def vault_state(target: WarehouseTarget) -> VaultState:
    """The vault's key count, id and source (never the key); keys=0 when it does not exist."""
    conn = _connect(target)
    try:
        cur = conn.cursor()
        cur.execute("select count(*) from information_schema.tables where table_schema = %s and table_name = %s",
                    (target.vault_schema, VAULT_TABLE))
        if cur.fetchone()[0] == 0:
            return VaultState(0, None, None, None)
        cur.execute(_state_sql(target))
        row = cur.fetchone()
        return VaultState(*row) if row else VaultState(0, None, None, None)
    except Exception as err:
        raise PiiKeyError(f"reading the key vault of target {target.name!r}: {str(err).strip()}") from None
    finally:
        conn.close()


def install_key(target: WarehouseTarget, key: PiiKey, role: str) -> VaultState:
    """Replace the vault's key with `key` in one transaction (readers see the old key or the new one).
    The key travels as data, never as SQL text."""
    installed_at = datetime.now(timezone.utc).replace(tzinfo=None)
    row = (key.key_id, key.inner_key, key.outer_key, key.source, installed_at)
    columns = "(key_id, inner_key, outer_key, key_source, installed_at)"
    conn = _connect(target)
    try:
        cur = conn.cursor()
        if target.type == "postgres":  # roles are the first build's on a new local warehouse
            cur.execute("select count(*) from pg_catalog.pg_roles where rolname = %s", (role,))
            role = role if cur.fetchone()[0] else None
        for statement in _setup_sql(target, role):
            cur.execute(statement)
        cur.execute(f"lock table {target.vault}")
        cur.execute(f"delete from {target.vault}")
        if target.type == "postgres":
            data = "\t".join([*row[:4], installed_at.isoformat(sep=" ")]) + "\n"
            cur.copy_expert(f"copy {target.vault} {columns} from stdin", io.StringIO(data))
        else:  # redshift_connector binds %s parameters server-side (extended query protocol)
            cur.execute(f"insert into {target.vault} {columns} values (%s, %s, %s, %s, %s)", row)
        conn.commit()
    except PiiKeyError:
        conn.rollback()
        raise
    except Exception as err:
        conn.rollback()
        raise PiiKeyError(f"installing the PII key into {target.vault} (target {target.name!r}): "
                          f"{str(err).strip()}") from None
    finally:
        conn.close()
    log.info(json.dumps({"event": "pii_key_installed", "target": target.name, "vault": target.vault,
                         "key_id": key.key_id, "source": key.source}))
    return VaultState(1, key.key_id, key.source, installed_at)


# ----------------------------------------------------------------------------------------- rotation


def keyed_models(manifest: dict) -> list[str]:
    """Names of the project's models that call keyed_hash (dbt's manifest, depends_on.macros)."""
    project = manifest["metadata"]["project_name"]
    return sorted(node["name"] for node in manifest["nodes"].values()
                  if node["resource_type"] == "model" and node["package_name"] == project
                  and KEYED_HASH_MACRO in node["depends_on"]["macros"])


def snapshots_downstream(manifest: dict, models: list[str]) -> list[str]:
    """Snapshots fed, directly or not, by `models`: --full-refresh does not rebuild snapshots, so their
    history would keep hashes made with the old key."""
    children = manifest["child_map"]
    project = manifest["metadata"]["project_name"]
    todo = [f"model.{project}.{m}" for m in models]
    seen: set[str] = set()
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return sorted(manifest["nodes"][n]["name"] for n in seen
                  if n in manifest["nodes"] and manifest["nodes"][n]["resource_type"] == "snapshot")


@dataclass(frozen=True)
class Rotation:
    before: VaultState
    after: VaultState
    rebuilt: list[str]  # the keyed models whose descendants were rebuilt too (--select m+)


def rotate_key(target: WarehouseTarget, new_key: PiiKey | None, role: str, manifest: dict,
               build: Callable[[list[str]], None], *, install: Callable[[], VaultState] | None = None) -> Rotation:
    """Install the new key, then `build(["build", "--full-refresh", "--select", "m1+", ...])` every model
    that pseudonymises PII and everything downstream. Refuses when a snapshot is downstream, and when the
    vault already held the key (nothing would change). The key is `new_key`, installed here; or `install()`
    puts it in place and returns the vault's state (`unify access rotate-pii-key`: as the security admin,
    who alone may read the secret)."""
    models = keyed_models(manifest)
    if not models:
        raise PiiKeyError("no model calls keyed_hash: nothing to re-key")
    snapshots = snapshots_downstream(manifest, models)
    if snapshots:
        raise PiiKeyError(f"snapshots {', '.join(snapshots)} are downstream of pseudonymised columns and "
                          "--full-refresh does not rebuild them: their history would keep the old key's "
                          "hashes. Re-key them by hand (docs/access-control.md, 'Key rotation').")
    before = vault_state(target)
    unchanged = (f"the vault of target {target.name!r} already holds key {{}}: rotate the secret first (a new "
                 "version in Secrets Manager)")
    if new_key is not None and before.key_id == new_key.key_id:
        raise PiiKeyError(unchanged.format(new_key.key_id))
    after = install() if install is not None else install_key(target, new_key, role)
    if after.key_id == before.key_id:
        raise PiiKeyError(unchanged.format(after.key_id))
    build(["build", "--full-refresh", "--select", *[m + "+" for m in models]])
    return Rotation(before, after, models)
