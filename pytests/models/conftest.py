"""Fixtures for the warehouse-model tests: databases built once per session and shared.

- `main_job`: the lead's main job (unify.demo.run_main_job) on simulated data with every fault
  switched on, tiny scale: an initial load + dbt build, then daily cycles (load + incremental build).
- `catch_up`: the same landed files loaded into a second database in ONE load cycle and built once
  (every model built from scratch): what a catch-up after an outage does.
- `raw_database`: an empty database with the raw tables of loaders/source_tables.py, for tests that
  hand-build raw rows (one per module; `fresh_raw_database`: one per test).
Databases are dropped at the end (UNIFY_KEEP_TEST_DB=1 keeps them for inspection).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

import support
from support import pinned_env, query

from loaders.config import Settings
from unify.dbt_runner import run_dbt
from unify.local_warehouse import LocalWarehouse
from loaders.source_tables import ALL_TABLES

ROOT = Path(__file__).resolve().parents[2]
INITIAL_DAYS = 8
DAILY_CYCLES = 2
FAULTS = ("all",)


@dataclass
class Built:
    settings: Settings
    landing: Path
    target_path: Path
    seconds: float

    def manifest(self) -> dict:
        return json.loads((self.target_path / "manifest.json").read_text())

    def run_results(self) -> dict:
        return json.loads((self.target_path / "run_results.json").read_text())

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return query(self.settings, sql, params)

    def dict_rows(self, sql: str) -> list[dict]:
        import psycopg2
        import psycopg2.extras

        with psycopg2.connect(self.settings.dsn()) as conn:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute(sql)
                rows = [dict(r) for r in cur.fetchall()]
        conn.close()
        return rows


def new_database(warehouse: Settings, label: str) -> Settings:
    name = f"test_models_{label}_{uuid.uuid4().hex[:8]}"
    LocalWarehouse(warehouse).ensure_database(name)
    return warehouse.with_database(name)


def drop_database(warehouse: Settings, settings: Settings) -> None:
    support.drop_database(warehouse, settings.pg_database)


# A fixed, past window that crosses a month end (rate reviews happen on the 1st), evaluated as of the
# day after the last cycle: the data and every metric are the same whenever the tests run.
FIRST_DAY = date(2026, 10, 27)
AS_OF_AT = "2026-11-06 00:00:00"


@pytest.fixture(scope="session")
def main_job(warehouse: Settings, tmp_path_factory) -> Built:
    from unify.demo import MainJobConfig, run_main_job

    settings = new_database(warehouse, "main")
    base = tmp_path_factory.mktemp("main_job")
    landing, target = base / "landing", base / "target"
    config = MainJobConfig(scale="tiny", days=INITIAL_DAYS, cycles=DAILY_CYCLES, start=FIRST_DAY, seed=42,
                           fmt="csv", faults=FAULTS, fresh=True, docs=False)
    started = time.monotonic()
    # The models' "now" is pinned; and the lookback is pinned to the project's default, 0 minutes, against
    # a shell that sets another: the whole simulation is loaded within minutes of wall-clock time, so a
    # lookback of minutes would re-process every key in every cycle and the daily builds would not really
    # be incremental.
    try:
        with pinned_env(UNIFY_AS_OF_AT=AS_OF_AT, UNIFY_INCREMENTAL_LOOKBACK_MINUTES="0"):
            run_main_job(settings, config, landing=str(landing), target_path=target, say=print, progress=False)
        built = Built(settings, landing, target, time.monotonic() - started)
        print(f"main job: {built.seconds:.1f} s")
        yield built
    finally:
        drop_database(warehouse, settings)


@pytest.fixture(scope="session")
def catch_up(warehouse: Settings, main_job: Built, tmp_path_factory) -> Built:
    """The main job's landed files, loaded in one cycle into a fresh database and built once."""
    from loaders.load import load

    settings = new_database(warehouse, "catchup")
    target = tmp_path_factory.mktemp("catch_up") / "target"
    started = time.monotonic()
    try:
        report = load(settings, str(main_job.landing), progress=False)
        assert report.exit_code in (0, 3), f"catch-up load failed: exit {report.exit_code}"
        with pinned_env(UNIFY_AS_OF_AT=AS_OF_AT):
            run_dbt(["build"], settings, target_path=target, capture=True)
        built = Built(settings, main_job.landing, target, time.monotonic() - started)
        print(f"catch-up load + build: {built.seconds:.1f} s")
        yield built
    finally:
        drop_database(warehouse, settings)


def create_raw_tables(settings: Settings) -> None:
    """Empty raw tables exactly as loaders/source_tables.py defines them."""
    import psycopg2

    conn = psycopg2.connect(settings.dsn())
    conn.autocommit = True
    with conn.cursor() as cur:
        for table in ALL_TABLES:
            cur.execute(f"create schema if not exists {table.raw_schema}")
            columns = ", ".join(
                f"{c.raw_name} {c.raw_type}{'' if c.nullable else ' not null'}" for c in table.all_columns
            )
            cur.execute(f"create table if not exists {table.qualified_raw_name} ({columns})")
    conn.close()


def _raw_database(warehouse: Settings):
    settings = new_database(warehouse, "raw")
    create_raw_tables(settings)
    yield settings
    drop_database(warehouse, settings)


@pytest.fixture(scope="module")
def raw_database(warehouse: Settings) -> Settings:
    yield from _raw_database(warehouse)


@pytest.fixture
def fresh_raw_database(warehouse: Settings) -> Settings:
    """Like raw_database, but one per test (a parametrised test gets one per case)."""
    yield from _raw_database(warehouse)
