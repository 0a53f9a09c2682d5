"""Fixtures for the catalog tests: one small main job, built once per session, ending with the docs.

`catalog_site` runs the lead's main job (unify.demo.run_main_job) on tiny simulated data into a
fresh database, with `dbt docs generate` at the end, then writes the column lineage into the same
target folder (what the main job does after the docs): manifest.json, catalog.json, index.html,
column_lineage.json and lineage.html, and a warehouse whose relations carry the persisted docs.
The database is dropped at the end (UNIFY_KEEP_TEST_DB=1 keeps it).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from support import drop_database, pinned_env, query

from loaders.config import Settings
from unify.local_warehouse import LocalWarehouse

FIRST_DAY = date(2026, 10, 27)
DAYS = 3
AS_OF_AT = "2026-10-30 00:00:00"


@dataclass
class CatalogSite:
    settings: Settings
    target_path: Path
    seconds: float

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
    from unify.demo import MainJobConfig, run_main_job

    name = f"test_catalog_{uuid.uuid4().hex[:8]}"
    LocalWarehouse(warehouse).ensure_database(name)
    settings = warehouse.with_database(name)
    base = tmp_path_factory.mktemp("catalog")
    target = base / "target"
    config = MainJobConfig(scale="tiny", days=DAYS, cycles=0, start=FIRST_DAY, seed=7, fmt="csv",
                           faults=("all",), fresh=True, docs=True)
    started = time.monotonic()
    try:
        # docs=True: the main job runs `dbt docs generate` and writes the column lineage next to it
        with pinned_env(UNIFY_AS_OF_AT=AS_OF_AT, UNIFY_INCREMENTAL_LOOKBACK_HOURS="0"):
            run_main_job(settings, config, landing=str(base / "landing"), target_path=target, say=print,
                         progress=False)
        site = CatalogSite(settings, target, time.monotonic() - started)
        print(f"catalog site built in {site.seconds:.1f} s")
        yield site
    finally:
        drop_database(warehouse, name)
