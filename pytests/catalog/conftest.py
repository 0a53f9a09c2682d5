"""Fixtures for the catalog tests: one small main job, built once per session, ending with the docs.

`catalog_site` runs the main job as a user does, `unify demo` in its own process, on tiny simulated
data into a fresh database, pointed at it and at a private landing folder and target folder by the
environment (UNIFY_PG_DATABASE, UNIFY_LANDING, DBT_TARGET_PATH). The job ends with `dbt docs generate`
and the column lineage: manifest.json, catalog.json, index.html, column_lineage.json and lineage.html,
and a warehouse whose relations carry the persisted docs. What the command printed is kept for the
tests of the quiet main job. The database is dropped at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from support import drop_database, query

from loaders.config import Settings
from unify.local_warehouse import LocalWarehouse

FIRST_DAY = date(2026, 10, 27)
DAYS = 3
AS_OF_AT = "2026-10-30 00:00:00"


ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CatalogSite:
    settings: Settings
    target_path: Path
    seconds: float
    demo: subprocess.CompletedProcess  # `unify demo`: what it printed (stdout and stderr together)

    def manifest(self) -> dict:
        return json.loads((self.target_path / "manifest.json").read_text())

    def catalog(self) -> dict:
        return json.loads((self.target_path / "catalog.json").read_text())

    def lineage(self) -> dict:
        return json.loads((self.target_path / "column_lineage.json").read_text())

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return query(self.settings, sql, params)


@pytest.fixture(scope="session")
def catalog_site(warehouse: Settings, tmp_path_factory) -> CatalogSite:
    name = f"test_catalog_{uuid.uuid4().hex[:8]}"
    LocalWarehouse(warehouse).ensure_database(name)
    settings = warehouse.with_database(name)
    base = tmp_path_factory.mktemp("catalog")
    target = base / "target"
    env = {**os.environ, "UNIFY_PG_DATABASE": name, "UNIFY_LANDING": str(base / "landing"),
           "DBT_TARGET_PATH": str(target), "UNIFY_AS_OF_AT": AS_OF_AT, "UNIFY_INCREMENTAL_LOOKBACK_MINUTES": "0"}
    command = [sys.executable, "-m", "unify.cli", "demo", "--scale", "tiny", "--days", str(DAYS), "--cycles", "0",
               "--start", FIRST_DAY.isoformat(), "--seed", "7", "--format", "csv", "--faults", "all"]
    started = time.monotonic()
    try:
        demo = subprocess.run(command, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=900)
        print(demo.stdout)
        assert demo.returncode == 0, f"unify demo failed (exit {demo.returncode}):\n{demo.stdout[-6000:]}"
        site = CatalogSite(settings, target, time.monotonic() - started, demo)
        print(f"catalog site built in {site.seconds:.1f} s")
        yield site
    finally:
        drop_database(warehouse, name)
