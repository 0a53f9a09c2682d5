"""Fixtures for the loader tests: simulator landings built once per session, helpers to run and inspect loads.

Every landing is written by the simulators (loaders.simulate); tests that need a case the simulator
cannot produce (an SQL-injection key, a header cell crafted as SQL) derive it from simulated files.
Each test loads into its own database (the `database` fixture of pytests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg2
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _load_oracle import Landed, read_landing  # noqa: E402

from loaders.config import Settings  # noqa: E402
from loaders.simulate import simulate  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
START = date(2026, 11, 1)


@dataclass
class Landing:
    root: Path
    objects: dict[str, Landed]

    @property
    def good(self) -> dict[str, Landed]:
        return {k: v for k, v in self.objects.items() if v.ok}

    @property
    def bad(self) -> dict[str, Landed]:
        return {k: v for k, v in self.objects.items() if not v.ok}

    def copy_to(self, target: Path) -> Path:
        shutil.copytree(self.root, target)
        return target


def _simulate(factory, name: str, **kwargs) -> Landing:
    root = factory.mktemp(name)
    simulate(str(root), start=START, seed=11, **kwargs)
    return Landing(root, read_landing(root))


@pytest.fixture(scope="session")
def clean_landing(tmp_path_factory) -> Landing:
    """Two tiny days, CSV, no faults: every object must load."""
    return _simulate(tmp_path_factory, "load_clean", days=2)


@pytest.fixture(scope="session")
def faults_csv(tmp_path_factory) -> Landing:
    """Two tiny days, CSV, every simulator fault."""
    return _simulate(tmp_path_factory, "load_faults_csv", days=2, faults=["all"])


@pytest.fixture(scope="session")
def faults_parquet(tmp_path_factory) -> Landing:
    """Two tiny days, Parquet (DMS and AppFlow), every simulator fault."""
    return _simulate(tmp_path_factory, "load_faults_parquet", days=2, fmt="parquet", faults=["all"])


def query(settings: Settings, sql: str, params: tuple | dict = ()) -> list[tuple]:
    conn = psycopg2.connect(settings.dsn())
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def execute(settings: Settings, sql: str, params: tuple | dict = ()) -> None:
    conn = psycopg2.connect(settings.dsn())
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def rows_per_key(settings: Settings) -> dict[str, int]:
    """Raw rows per landed object, over every raw table."""
    from loaders.source_tables import ALL_TABLES

    counts: dict[str, int] = {}
    for table in ALL_TABLES:
        for key, n in query(settings, f'select _source_key, count(*) from "{table.raw_schema}"."{table.raw_table}" '
                                      "group by 1"):
            counts[key] = counts.get(key, 0) + n
    return counts


def ledger(settings: Settings) -> list[tuple]:
    return query(settings, "select object_key, etag, status, rows_loaded, batch_id, reason, error_line "
                           "from unify_loader.load_ledger order by object_key, recorded_at")


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"UNIFY_PG_DATABASE": settings.pg_database, "UNIFY_PG_PORT": str(settings.pg_port),
                "UNIFY_LOG_LEVEL": "INFO"})
    env.pop("UNIFY_LOAD_CRASH_AT", None)
    env.pop("UNIFY_LOAD_CRASH_MODE", None)
    env.update(extra)
    return env


def unify_load(settings: Settings, *args: str, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    """`unify load ...` in a subprocess (what an operator or a scheduler runs)."""
    return subprocess.run([sys.executable, "-m", "loaders.cli", "load", "--no-progress", *args],
                          env=env or cli_env(settings), cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def start_unify_load(settings: Settings, *args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "loaders.cli", "load", "--no-progress", *args],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
