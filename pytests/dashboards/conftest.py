"""Fixtures of the dashboards' tests: one small warehouse built from simulated data, with a login per
person of the access mapping (as `make demo` makes them), shared by the session.

`dash_warehouse` runs the main job (unify.demo.run_main_job) on tiny simulated data over a month and a
half, so the last complete month and the one before both have shipments, into a fresh database, with
"now" pinned (UNIFY_AS_OF_AT) and a per-session user-name prefix (UNIFY_ACCESS_USER_NAME_PREFIX), so
the logins it creates (cluster-wide in PostgreSQL) never meet another session's; they and the database
are dropped at the end (UNIFY_KEEP_TEST_DB=1 keeps them).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from support import drop_database, pinned_env, query

from loaders.config import Settings
from unify.local_warehouse import LocalWarehouse

# The catalog tests' headless Chromium driver (DevTools protocol over a pipe), shared rather than copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "catalog"))

FIRST_DAY = date(2026, 9, 21)
DAYS = 43
AS_OF_AT = "2026-11-03 12:00:00"


@dataclass
class DashWarehouse:
    settings: Settings
    prefix: str
    target_path: Path

    def env(self) -> dict[str, str]:
        return {"UNIFY_AS_OF_AT": AS_OF_AT, "UNIFY_ACCESS_USER_NAME_PREFIX": self.prefix,
                "UNIFY_INCREMENTAL_LOOKBACK_MINUTES": "0"}

    def query(self, sql: str, params: tuple = (), login: str | None = None) -> list[tuple]:
        return query(self.settings, sql, params, user=self.prefix + login if login else None)

    def people(self, team: str) -> list[str]:
        """Logins (without the prefix) of the mapping's people of one team, with a client each."""
        return [login for (login,) in self.query(
            "select distinct login_name from analytics_access.access_client_grants where team = %s order by 1",
            (team,))]


@pytest.fixture(scope="session")
def dash_warehouse(warehouse: Settings, tmp_path_factory) -> DashWarehouse:
    from unify.access import create_local_logins
    from unify.bench.concurrency import drop_logins
    from unify.demo import MainJobConfig, run_main_job

    token = uuid.uuid4().hex[:8]
    name = f"test_dash_{token}"
    LocalWarehouse(warehouse).ensure_database(name)
    settings = warehouse.with_database(name)
    base = tmp_path_factory.mktemp("dashboards")
    built = DashWarehouse(settings, f"d{token}:", base / "target")
    config = MainJobConfig(scale="tiny", days=DAYS, cycles=0, start=FIRST_DAY, seed=11, fmt="csv",
                           faults=("all",), fresh=True, docs=False)
    started = time.monotonic()
    try:
        with pinned_env(**built.env()):
            run_main_job(settings, config, landing=str(base / "landing"), target_path=built.target_path,
                         say=print, progress=False)
            create_local_logins(settings, "analytics")
        print(f"dashboards fixture built in {time.monotonic() - started:.1f} s")
        yield built
    finally:
        if os.environ.get("UNIFY_KEEP_TEST_DB"):
            print(f"kept test database {name}; logins prefixed {built.prefix!r}")
        else:
            drop_database(warehouse, name)
            drop_logins(warehouse, built.prefix)
