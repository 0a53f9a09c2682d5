"""Helpers of the resilience suite (a uniquely named module: test modules import it, never `conftest`).

- `Landings`: the simulated deliveries: `initial` (the first days) and `full` (the same files plus the
  next day's, as the simulator's continue mode writes them: same keys, same bytes).
- `records_in_files`: an independent count of each landed file's records (Python's csv and json
  modules, never the loader's readers), to prove that nothing was lost or duplicated.
- `assert_consistent` / `assert_complete`: the raw tables and the ledger after a crash / after a rerun.
- `marts`: the full contents of the facts and reporting models, as multisets of rows, for comparing a
  recovered database with a clean run (order-independent).
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import support
from support import query, raw_rows_per_key  # noqa: F401  (tests import them from here)

from loaders.config import Settings
from unify.dbt_runner import run_dbt
from unify.local_warehouse import LocalWarehouse
from loaders.source_tables import ALL_TABLES

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = os.environ.get("UNIFY_SCHEMA") or "analytics"
# Columns that record WHEN the loader committed a row: they differ between any two runs by definition,
# so a recovered run is compared with a clean one on every other column.
LOAD_TIME_COLUMNS = ("source_loaded_at", "last_loaded_at")
# The models' "now" pinned, and a 0-minute incremental lookback (as in pytests/models): the second cycle's
# build is truly incremental, so a crash in the middle of an incremental run is really tested.
DBT_ENV = {"UNIFY_AS_OF_AT": "2026-10-31 00:00:00", "UNIFY_INCREMENTAL_LOOKBACK_MINUTES": "0"}


@dataclass(frozen=True)
class Landings:
    initial: Path
    full: Path


# ------------------------------------------------------------------------------------------ databases
def new_database(warehouse: Settings, label: str, template: str | None = None) -> Settings:
    from psycopg2 import sql

    name = f"test_resilience_{label}_{uuid.uuid4().hex[:8]}"
    if template is None:
        LocalWarehouse(warehouse).ensure_database(name)
    else:
        conn = psycopg2.connect(warehouse.dsn(database="postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("create database {} template {}").format(sql.Identifier(name),
                                                                        sql.Identifier(template)))
        conn.close()
    return warehouse.with_database(name)


def drop_database(warehouse: Settings, settings: Settings) -> None:
    support.drop_database(warehouse, settings.pg_database)


def dbt_build(settings: Settings, target: Path) -> None:
    run_dbt(["build"], settings, target_path=target, capture=True, env=DBT_ENV)


def quarantined(settings: Settings) -> set[str]:
    return {k for (k,) in query(settings, "select object_key from unify_loader.load_ledger "
                                          "where status = 'quarantined' except select object_key "
                                          "from unify_loader.load_ledger where status = 'loaded'")}


# ------------------------------------------------------------------------------------------ landed files
def records_in_files(landing: Path) -> dict[str, int | None]:
    """Records per landed object under the source prefixes; None when the file cannot be read as its format
    says (corrupt bytes, a cut-off record, a malformed JSON line): such a file must be quarantined."""
    counts: dict[str, int | None] = {}
    for path in sorted(landing.rglob("*")):
        key = path.relative_to(landing).as_posix()
        if not path.is_file() or not key.startswith(("dms/", "appflow/", "tms/")):
            continue
        counts[key] = _count(key, path.read_bytes())
    return counts


def _count(key: str, data: bytes) -> int | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    if key.startswith("appflow/"):
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            for line in lines:
                if not isinstance(json.loads(line), dict):
                    return None
        except ValueError:
            return None
        return len(lines)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        return None
    if not rows:
        return None
    width = len(rows[0])
    if any(len(r) != width for r in rows[1:]):
        return None  # a record cut short (a truncated file)
    if key.startswith("tms/") and text and not text.endswith("\n"):
        return None  # TMS pins a line break after every record: without the last one, the file was cut short
    return len(rows) - 1


# ------------------------------------------------------------------------------------------ raw + ledger
def ledger_status(settings: Settings) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for key, status in query(settings, "select object_key, status from unify_loader.load_ledger"):
        found.setdefault(key, set()).add(status)
    return found


def assert_consistent(settings: Settings) -> None:
    """After a crash: whole batches or nothing. Every raw row belongs to a committed batch, no record twice,
    and each loaded object's ledger row counts exactly its raw rows."""
    for table in ALL_TABLES:
        name = f'"{table.raw_schema}"."{table.raw_table}"'
        orphans = query(settings, f"select count(*) from {name} r left join unify_loader.load_batches b "
                                  "on b.batch_id = r._batch_id where b.batch_id is null")
        assert orphans == [(0,)], f"{table.qualified_raw_name}: rows of a batch that never committed"
        twice = query(settings, f"select _source_key, _source_row from {name} group by 1, 2 having count(*) > 1")
        assert twice == [], f"{table.qualified_raw_name}: records loaded twice: {twice[:3]}"
    loaded = query(settings, "select object_key, count(*), sum(rows_loaded) from unify_loader.load_ledger "
                             "where status = 'loaded' group by 1")
    assert all(n == 1 for _k, n, _r in loaded), "an object is recorded as loaded more than once"
    rows = raw_rows_per_key(settings)
    assert {k: r for k, _n, r in loaded if r} == rows


def assert_complete(settings: Settings, landing: Path) -> None:
    """After the rerun: every landed object has a decision; each loaded one holds exactly the records its
    file has (counted independently); each quarantined one is unreadable and holds no row."""
    assert_consistent(settings)
    expected = records_in_files(landing)
    status = ledger_status(settings)
    undecided = sorted(set(expected) - set(status))
    assert undecided == [], f"landed but never loaded nor quarantined: {undecided[:5]}"
    rows = raw_rows_per_key(settings)
    for key, n in expected.items():
        if "loaded" in status[key]:
            assert n is not None, f"{key} is unreadable but was loaded"
            assert rows.get(key, 0) == n, f"{key}: {rows.get(key, 0)} raw rows, the file has {n} records"
        else:
            assert rows.get(key, 0) == 0, f"{key} is quarantined but has raw rows"


# ------------------------------------------------------------------------------------------ processes
def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("UNIFY_LOAD_CRASH_AT", "UNIFY_LOAD_CRASH_MODE")}
    env.update({"UNIFY_PG_DATABASE": settings.pg_database, "UNIFY_PG_PORT": str(settings.pg_port),
                "UNIFY_HOME": str(settings.home), "UNIFY_LOG_LEVEL": "INFO"})
    env.update(extra)
    return env


def unify_load(settings: Settings, landing: Path, timeout: float = 180, **extra: str) -> subprocess.CompletedProcess:
    """`unify load` in a subprocess, as a scheduler runs it (crash injection through the environment)."""
    return subprocess.run([sys.executable, "-m", "unify.cli", "load", "--no-progress", "--landing", str(landing)],
                          env=cli_env(settings, **extra), cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def start_unify_load(settings: Settings, landing: Path, **extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "unify.cli", "load", "--no-progress", "--landing", str(landing)],
                            env=cli_env(settings, **extra), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


# ------------------------------------------------------------------------------------------ marts
def mart_tables(settings: Settings) -> list[tuple[str, str]]:
    return [tuple(r) for r in query(settings, """
        select table_schema, table_name from information_schema.tables
        where table_type = 'BASE TABLE' and (
            (table_schema = %s and table_name like 'fct\\_%%') or table_schema = %s)
        order by 1, 2""", (f"{SCHEMA}_marts", f"{SCHEMA}_reporting"))]


def marts(settings: Settings) -> dict[str, Counter]:
    """Every fact and reporting table's rows (all columns but the load-time ones), as a multiset."""
    contents: dict[str, Counter] = {}
    for schema, table in mart_tables(settings):
        columns = [c for (c,) in query(settings, "select column_name from information_schema.columns "
                                                 "where table_schema = %s and table_name = %s order by ordinal_position",
                                       (schema, table)) if c not in LOAD_TIME_COLUMNS]
        select = ", ".join(f'"{c}"' for c in columns)
        contents[f"{schema}.{table}"] = Counter(query(settings, f'select {select} from "{schema}"."{table}"'))
    return contents


def assert_same_marts(got: dict[str, Counter], clean: dict[str, Counter]) -> None:
    assert sorted(got) == sorted(clean), "not the same fact and reporting tables as the clean run"
    for name, rows in clean.items():
        if got[name] != rows:
            missing = list((rows - got[name]).elements())[:3]
            extra = list((got[name] - rows).elements())[:3]
            raise AssertionError(f"{name} differs from the clean run: {sum(rows.values())} rows there, "
                                 f"{sum(got[name].values())} here; missing {missing}; extra {extra}")
    assert sum(sum(c.values()) for c in clean.values()) > 0, "the clean run built empty marts"
