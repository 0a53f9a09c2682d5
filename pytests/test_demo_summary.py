"""The demo's "now" and its closing summary. The summary groups quarantined files by reason
(unify.demo.quarantine_reasons): a reader sees which kinds of bad input arrived and one file to look at for
each, not 90 log lines."""

from __future__ import annotations

from datetime import date

import pytest

from unify.demo import as_of_env, quarantine_reasons


def test_quarantines_are_grouped_by_reason_most_frequent_first():
    quarantined = [
        ("dms/azureware/dbo/Orders/1.csv", "not valid UTF-8 (corrupt file)"),
        ("appflow/salesforce/Account/x/part-1.jsonl", "malformed JSON Lines: Unterminated string starting at (column 183)"),
        ("appflow/salesforce/Account/y/part-1.jsonl", "malformed JSON Lines: Unterminated string starting at (column 12)"),
        ("dms/azureware/dbo/Orders/2.csv", "not valid UTF-8 (corrupt file)"),
        ("dms/azureware/dbo/Orders/3.csv", "not valid UTF-8 (corrupt file)"),
        ("tms/shipments/dt=2026-11-01/a.csv", "malformed CSV record: expected 11 fields, found 10"),
    ]
    assert quarantine_reasons(quarantined) == [
        ("not valid UTF-8 (corrupt file)", 3, "dms/azureware/dbo/Orders/1.csv"),
        ("malformed JSON Lines: Unterminated string starting at", 2, "appflow/salesforce/Account/x/part-1.jsonl"),
        ("malformed CSV record: expected 11 fields, found 10", 1, "tms/shipments/dt=2026-11-01/a.csv"),
    ]


@pytest.mark.parametrize("preload", ["0", "1"], ids=["dbt-executable", "preloaded-dbt"])
def test_a_failing_dbt_run_shows_each_failing_node_its_message_and_where_the_log_is(database, tmp_path, capfd,
                                                                                   monkeypatch, preload):
    """The quiet runner (unify.dbt_runner.run_dbt_logged) on an empty database: the staging model cannot
    find its raw table. Nothing reaches the terminal; the error carries dbt's failure in full. The same
    with dbt started as its executable (production) and forked from the preloaded server (the tests)."""
    from unify.dbt_runner import DbtError, run_dbt_logged

    monkeypatch.setenv("UNIFY_DBT_PRELOAD", preload)
    target = tmp_path / "target"
    with pytest.raises(DbtError) as failed:
        run_dbt_logged(["build", "-s", "stg_azureware__clients"], database, target_path=target)
    message = str(failed.value)
    log = target / "logs" / "dbt.log"
    assert message.startswith(f"`dbt build -s stg_azureware__clients` failed with exit code 1; dbt's full log: {log}")
    assert "Failure in model stg_azureware__clients (models/staging/azureware/stg_azureware__clients.sql)" in message
    assert 'relation "raw_azureware.clients" does not exist' in message
    assert "ERROR=1" in message
    assert 'relation "raw_azureware.clients" does not exist' in log.read_text()
    assert capfd.readouterr() == ("", "")


def test_each_demo_cycle_is_judged_as_of_the_end_of_the_days_it_simulated(monkeypatch):
    """A cycle that replays past days is evaluated at the midnight after its last day, not at the clock
    (which made the completeness tests depend on the hour `make demo` ran); a pinned UNIFY_AS_OF_AT wins."""
    monkeypatch.delenv("UNIFY_AS_OF_AT", raising=False)
    assert as_of_env(date(2026, 12, 4)) == {"UNIFY_AS_OF_AT": "2026-12-05 00:00:00"}
    assert as_of_env(date(2026, 12, 31)) == {"UNIFY_AS_OF_AT": "2027-01-01 00:00:00"}
    monkeypatch.setenv("UNIFY_AS_OF_AT", "2026-11-20 12:00:00")
    assert as_of_env(date(2026, 12, 4)) == {}
