"""The loader killed (SIGKILL, as an OOM kill or a lost Lambda) at every step of a batch, then rerun.

`unify load` runs in a subprocess with UNIFY_LOAD_CRASH_AT=<step>:2 (loaders/crash.py): it commits its
first batch and dies in its second at the step, so each kill meets a database that already holds
committed batches. The steps, in the order a batch passes them: before_copy (batch planned, its
manifest of files fixed, nothing copied), during_copy (COPY streaming), after_copy (copied, not
committed), after_commit (committed, the run not finished). The four kills follow one another on the
same database, each next run being the previous one's rerun; then a run without a crash finishes.
After every kill the database holds whole batches or nothing; at the end every record of every landed
file is in the raw tables exactly once, and `dbt build` gives the marts of a clean run.
"""

from __future__ import annotations

import signal

import pytest
from _resilience_helpers import (assert_complete, assert_consistent, assert_same_marts, dbt_build, drop_database,
                                 marts, new_database, quarantined, query, unify_load)

from loaders.crash import STEPS

pytestmark = pytest.mark.resilience


def test_loader_killed_at_every_step_then_rerun_loses_and_duplicates_nothing(warehouse, landings, clean,
                                                                             tmp_path):
    settings = new_database(warehouse, "loader_killed")
    try:
        committed_before = 0
        for step in STEPS:
            killed = unify_load(settings, landings.initial, UNIFY_LOAD_CRASH_AT=f"{step}:2",
                                UNIFY_LOAD_CRASH_MODE="kill")
            assert killed.returncode == -signal.SIGKILL, f"{step}: {killed.stderr[-2000:]}"
            assert f"crash_injected step={step}" in killed.stderr
            assert_consistent(settings)
            committed = query(settings, "select count(*) from unify_loader.load_batches")[0][0]
            # the killed run committed its first batch, and its second too when it died after the commit
            assert committed == committed_before + (2 if step == "after_commit" else 1), step
            committed_before = committed

        rerun = unify_load(settings, landings.initial)
        assert rerun.returncode in (0, 3), rerun.stderr[-2000:]  # 3: the simulator's bad files, quarantined
        assert_complete(settings, landings.initial)
        assert quarantined(settings) == clean.quarantined_first

        dbt_build(settings, tmp_path / "target")
        assert_same_marts(marts(settings), clean.marts_first)
    finally:
        drop_database(warehouse, settings)
