"""`unify load` as an operator runs it: summary, exit codes, dry run, source selection, JSON logs."""

from __future__ import annotations

import json

from _load_helpers import cli_env, query, rows_per_key, unify_load

from loaders.load import EXIT_FAILED, EXIT_OK, EXIT_QUARANTINED


def test_dry_run_parses_everything_and_writes_nothing(database, faults_csv):
    result = unify_load(database, "--landing", str(faults_csv.root), "--dry-run")
    assert result.returncode == EXIT_QUARANTINED, result.stderr
    assert f"would load {len(faults_csv.good)} file(s)" in result.stdout
    for key in faults_csv.bad:
        assert f"QUARANTINED {key}:" in result.stdout
    assert query(database, "select count(*) from pg_namespace where nspname in "
                           "('unify_loader', 'raw_azureware', 'raw_salesforce', 'raw_tms')") == [(0,)]


def test_summary_exit_codes_and_source_selection(database, clean_landing, faults_csv):
    tms = unify_load(database, "--landing", str(clean_landing.root), "--source", "tms")
    assert tms.returncode == EXIT_OK, tms.stderr
    expected = {k for k, v in clean_landing.good.items() if k.startswith("tms/") and v.records}
    assert set(rows_per_key(database)) == expected
    assert "raw_tms.shipments" in tms.stdout and "rows/s" in tms.stdout and "exit code 0 (all loaded)" in tms.stdout
    assert "raw_azureware" not in tms.stdout

    faults = unify_load(database, "--landing", str(faults_csv.root), "--source", "salesforce")
    assert faults.returncode == EXIT_QUARANTINED
    assert "exit code 3 (loaded with quarantines)" in faults.stdout

    down = unify_load(database, "--landing", str(clean_landing.root),
                      env=cli_env(database, UNIFY_PG_PORT="1", UNIFY_LOAD_CONNECT_ATTEMPTS="1"))
    assert down.returncode == EXIT_FAILED
    assert "FAILED: cannot connect to the warehouse at postgresql://" in down.stdout

    usage = unify_load(database, "--source", "sap")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


def test_json_logs_are_one_event_per_line_with_batch_ids_keys_and_counts(database, clean_landing):
    result = unify_load(database, "--landing", str(clean_landing.root), "--json-logs", "--json-summary")
    assert result.returncode == EXIT_OK, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]  # every line is a JSON object
    names = [e["event"] for e in events]
    assert names[0] == "load_started" and names[-1] == "load_finished"
    assert all({"ts", "level", "logger", "event", "message"} <= set(e) for e in events)
    committed = [e for e in events if e["event"] == "batch_committed"]
    summary = json.loads(result.stdout)
    assert sum(e["rows"] for e in committed) == summary["rows"] == sum(rows_per_key(database).values())
    assert all(e["batch_id"] in summary["batches"] and e["table"].startswith("raw_") for e in committed)
    assert {e["batch_id"] for e in committed} == {b for (b,) in query(database, "select batch_id from "
                                                                                  "unify_loader.load_batches")}
