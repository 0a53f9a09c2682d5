"""`dbt build` killed (SIGKILL) in the middle of an incremental run, then rerun.

The database starts as a clean run left it after its first cycle; the second day's files are loaded and
`dbt build` starts its incremental run. To kill it at a known point, the test holds a lock on
fct_orders (an incremental fact) so dbt's transaction for that model waits inside the table; once
PostgreSQL shows dbt's session waiting on it, with models before it already committed and the rest
not started, the dbt process is killed. Its open transaction rolls back (PostgreSQL drops the session).
The rerun of `dbt build` must then give exactly the marts of the clean run's second cycle: each
incremental model picks up from its own high-water mark, whatever the killed run had committed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psycopg2
import pytest
from _resilience_helpers import (DBT_ENV, ROOT, SCHEMA, assert_same_marts, dbt_build, drop_database, marts,
                                 new_database, query)

from unify.dbt_runner import dbt_env, dbt_executable, ensure_profile
from loaders.load import EXIT_FAILED, load

pytestmark = pytest.mark.resilience
HELD_MODEL = "fct_orders"


def _waiting_on(settings, blocker_pid: int) -> list[tuple]:
    return query(settings, """
        select pid, left(query, 200) from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and %s = any(pg_blocking_pids(pid))""",
                 (blocker_pid,))


def _other_sessions(settings) -> int:
    return query(settings, "select count(*) from pg_stat_activity where datname = current_database() "
                           "and pid <> pg_backend_pid()")[0][0]


def test_dbt_build_killed_mid_run_then_rerun_gives_the_clean_marts(warehouse, landings, clean, tmp_path):
    settings = new_database(warehouse, "dbt_killed", template=clean.after_first_cycle.pg_database)
    try:
        loaded = load(settings, str(landings.full))
        assert loaded.exit_code != EXIT_FAILED, loaded.summary()

        blocker = psycopg2.connect(settings.dsn())
        with blocker.cursor() as cur:
            cur.execute(f'lock table "{SCHEMA}_marts"."{HELD_MODEL}" in access exclusive mode')
            cur.execute("select pg_backend_pid()")
            blocker_pid = cur.fetchone()[0]
        ensure_profile(ROOT)
        target = tmp_path / "killed-target"
        env = dbt_env(settings, {**DBT_ENV, "DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target / "logs")})
        out = (tmp_path / "dbt-killed.log").open("w+")
        dbt = subprocess.Popen([dbt_executable(), "build", "--profiles-dir", str(ROOT), "--project-dir", str(ROOT)],
                               cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 180
            while not (waiting := _waiting_on(settings, blocker_pid)):
                assert dbt.poll() is None, "dbt finished before reaching " + HELD_MODEL
                assert time.monotonic() < deadline, f"dbt never reached {HELD_MODEL}"
                time.sleep(0.2)
            os.kill(dbt.pid, signal.SIGKILL)
            assert dbt.wait(timeout=30) == -signal.SIGKILL
        finally:
            if dbt.poll() is None:
                dbt.kill()
            blocker.rollback()
            blocker.close()
        out.seek(0)
        log = out.read()
        out.close()
        assert HELD_MODEL in waiting[0][1] or "__dbt_tmp" in waiting[0][1], waiting
        done = [line for line in log.splitlines() if " OK created " in line or " OK loaded " in line]
        assert done, "nothing had run before the kill: not the middle of a run"
        assert not any(f".{HELD_MODEL} " in line for line in done), "the held model finished before the kill"
        assert not (target / "run_results.json").exists(), "the killed run finished"

        deadline = time.monotonic() + 60  # the killed session's transaction rolls back when PostgreSQL drops it
        while _other_sessions(settings):
            assert time.monotonic() < deadline, "the killed dbt's session is still there"
            time.sleep(0.2)
        assert marts(settings) != clean.marts_second, "the kill left nothing to recover: the test proves nothing"

        dbt_build(settings, tmp_path / "rerun-target")
        assert_same_marts(marts(settings), clean.marts_second)
    finally:
        drop_database(warehouse, settings)
