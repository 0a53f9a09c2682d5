"""unify.dbt_runner.run_dbt: dbt's exit code, output and environment, with dbt started as its executable
(production) and forked from the preloaded server (UNIFY_DBT_PRELOAD=1, the test suite's default)."""

from __future__ import annotations

import pytest

from unify.dbt_runner import DbtError, run_dbt

MODES = pytest.mark.parametrize("preload", ["0", "1"], ids=["dbt-executable", "preloaded-dbt"])


@MODES
def test_exit_code_and_output_are_dbts(warehouse, tmp_path, monkeypatch, capfd, preload):
    monkeypatch.setenv("UNIFY_DBT_PRELOAD", preload)
    wrong = run_dbt(["no-such-command"], warehouse, target_path=tmp_path, capture=True, check=False)
    assert wrong.returncode == 2
    assert "No such command 'no-such-command'" in wrong.stdout  # click's message, on dbt's stderr
    with pytest.raises(DbtError, match=r"(?s)`dbt no-such-command` failed with exit code 2\n.*No such command"):
        run_dbt(["no-such-command"], warehouse, target_path=tmp_path, capture=True)

    capfd.readouterr()
    streamed = run_dbt(["debug", "--config-dir"], warehouse, target_path=tmp_path)  # not captured: to the terminal
    assert streamed.returncode == 0 and streamed.stdout is None
    assert "To view your profiles.yml file, run:" in capfd.readouterr().out


@MODES
def test_each_invocation_sees_the_environment_of_its_call(warehouse, tmp_path, monkeypatch, preload):
    """The preloaded server starts with the environment of the first call; each invocation must get the
    environment of its own (the profile reads the database and schema from it)."""
    monkeypatch.setenv("UNIFY_DBT_PRELOAD", preload)
    for schema in ("first_schema", "second_schema"):
        monkeypatch.setenv("UNIFY_SCHEMA", schema)
        debug = run_dbt(["debug"], warehouse, target_path=tmp_path, capture=True)
        assert f"schema: {schema}" in debug.stdout, debug.stdout
        assert f"database: {warehouse.pg_database}" in debug.stdout
        assert "All checks passed!" in debug.stdout


def test_a_preloaded_dbt_whose_caller_stops_reading_is_stopped(warehouse, tmp_path, monkeypatch):
    """An error or Ctrl-C in the caller while dbt runs: dbt is terminated, not left running."""
    import os

    from unify.dbt_runner import _command, _PreloadedDbt

    monkeypatch.setenv("UNIFY_DBT_PRELOAD", "1")
    cmd, env = _command(["parse"], warehouse, tmp_path / "target", None)  # a full parse: seconds of work
    with pytest.raises(KeyboardInterrupt):
        with _PreloadedDbt(cmd, warehouse.root, env) as proc:
            next(iter(proc.stdout))  # dbt has started
            raise KeyboardInterrupt
    assert proc.returncode == -15  # SIGTERM, as subprocess reports it
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
