"""macros/gate/is_incremental.sql changes nothing in normal builds: without the gate's var it answers
what dbt's own is_incremental() answers (false before the table exists, true once it does)."""

from __future__ import annotations

import json

from unify.dbt_runner import run_dbt

BRANCH = "where _loaded_at > (select max(_loaded_at) from"


def test_normal_build_uses_dbts_is_incremental(alert_project, tmp_path):
    project, settings = alert_project
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    assert "macro.alert_fixture.is_incremental" in manifest["macros"]  # the override is in play

    # The fixture's `dbt build` created inc_orders: the table did not exist, so no incremental branch.
    first_run = (project / "target" / "run" / "alert_fixture" / "models" / "inc_orders.sql").read_text()
    assert BRANCH not in first_run

    # Now the table exists: a normal compile takes the incremental branch, as dbt's macro would.
    run_dbt(["compile", "--select", "inc_orders"], settings, target_path=tmp_path / "target", capture=True)
    compiled = (tmp_path / "target" / "compiled" / "alert_fixture" / "models" / "inc_orders.sql").read_text()
    assert BRANCH in compiled
