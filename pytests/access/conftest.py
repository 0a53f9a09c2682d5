"""Fixtures of the access-control tests: ONE warehouse built from simulated data, shared by the session,
and real login roles named like the simulated Salesforce users (helpers: access_support.py).

`secured` runs the main job (unify.demo.run_main_job: simulate with every fault, load, `dbt build`, then
one daily cycle whose `dbt build` runs the incremental models incrementally, then docs) into a fresh
database, keeping what it said and logged in files beside its target/, with a
per-session user-name prefix (var access_user_name_prefix, env UNIFY_ACCESS_USER_NAME_PREFIX): the
mapping then names `<prefix><Salesforce Username>`, exactly as on Redshift where IAM prefixes database
user names. Login roles are cluster-wide in PostgreSQL; the prefix keeps concurrent test sessions
apart, and the session drops its own logins at the end. The project roles (unify_*) are shared by
every database and never dropped.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest
from access_support import FIRST_DAY, Secured, captured_logs, create_logins, drop_logins, role_plan
from support import drop_database, pinned_env

from loaders.config import Settings
from unify.local_warehouse import LocalWarehouse


@pytest.fixture(scope="session")
def secured(warehouse: Settings, tmp_path_factory) -> Secured:
    from unify.demo import MainJobConfig, run_main_job

    token = uuid.uuid4().hex[:8]
    name = f"test_access_{token}"
    LocalWarehouse(warehouse).ensure_database(name)
    settings = warehouse.with_database(name)
    base = tmp_path_factory.mktemp("access")
    built = Secured(settings, base / "target", prefix=f"t{token}:", logins=role_plan())
    config = MainJobConfig(scale="tiny", days=8, cycles=1, start=FIRST_DAY, seed=42, fmt="csv",
                           faults=("all",), fresh=True, docs=True)
    started = time.monotonic()
    try:
        # Everything the main job says and logs (loaders included, at every level) is kept in files
        # beside its target/, for the artifact scan (test_no_record_values_in_artifacts.py).
        with pinned_env(**built.env()), captured_logs(built.log_path) as log_file, \
                built.say_path.open("w", encoding="utf-8") as said:
            def say(text: str) -> None:
                print(text)
                said.write(text + "\n")

            run_main_job(settings, config, landing=str(base / "landing"), target_path=built.target_path,
                         say=say, progress=False)
            log_file.flush()
        built.timings["main job (build + incremental cycle)"] = time.monotonic() - started
        create_logins(warehouse, built.prefix, built.logins)
        yield built
    finally:
        if os.environ.get("UNIFY_KEEP_TEST_DB"):
            print(f"kept test database {name}; logins prefixed {built.prefix!r}")
        else:
            drop_database(warehouse, name)
            drop_logins(warehouse, built.prefix, built.logins)
        for step, seconds in built.timings.items():
            print(f"access fixture: {step}: {seconds:.1f} s")
