"""`unify cycle` on the local warehouse: the scenario of conftest.py's `cycles` fixture, step by step.

Issue 16's acceptance: new files -> marts updated -> summary; a second cycle with nothing new changes
nothing; an overlapping cycle is refused; the failure path publishes to an SNS topic on moto's server;
a failed cycle leaves the marts as they were and the next one catches up. Times are printed, never
asserted.
"""

from __future__ import annotations

import json

from support import query

from unify.cli import main
from unify.cycle import METRIC_NAMESPACE

EMF_METRICS = {"CycleSucceeded", "CycleFailed", "CycleRefused", "CycleSeconds", "FilesLoaded", "RowsLoaded",
               "FilesQuarantined", "BuildErrors", "BuildWarnings", "StaleSources"}


def _fct_order_ids(cycles) -> set[int]:
    return {row[0] for row in query(cycles.settings, "select order_id from analytics_marts.fct_orders")}


def _run_results(step) -> dict:
    return json.loads((step.target_path / "run_results.json").read_text())


def _check_emf(summary: dict) -> None:
    """The summary line is a valid Embedded Metric Format document: every declared metric is a root member
    with a number, the dimensions are root members too."""
    [directive] = summary["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == METRIC_NAMESPACE
    assert directive["Dimensions"] == [["Environment", "Cycle"]]
    assert isinstance(summary["_aws"]["Timestamp"], int)
    assert summary["Environment"] == "test" and summary["Cycle"] in ("frequent", "nightly")
    for metric in directive["Metrics"]:
        assert isinstance(summary[metric["Name"]], (int, float)), metric
        assert metric["Unit"] in ("Count", "Seconds")


def test_new_files_reach_the_marts_and_the_summary_says_so(cycles):
    first, second = cycles.steps["A"], cycles.steps["B"]
    for step in (first, second):
        summary = step.summary
        assert summary["outcome"] == "succeeded" and summary["exit_code"] == 0, summary
        assert summary["steps"]["load"]["status"] == "ok" and summary["steps"]["load"]["files"] > 0
        build = summary["steps"]["build"]
        assert (build["status"], build["selector"], build["test_window_hours"]) == ("ok", "frequent", "6")
        # both cycles bring data from every source (A: the first, so no build has read anything yet)
        assert {mark.split(".")[0] for mark in build["marks_recorded"]} == {"raw_azureware", "raw_salesforce", "raw_tms"}
        assert "raw_azureware.orders" in build["marks_recorded"]
        assert build["errors"] == 0 and build["counts"]["pass"] > 50
        # every source table with a freshness rule was checked (reference tables that rarely change have none)
        manifest = json.loads((step.target_path / "manifest.json").read_text())
        with_rules = [s for s in manifest["sources"].values() if (s.get("freshness") or {}).get("error_after", {}).get("count")
                      or (s.get("freshness") or {}).get("warn_after", {}).get("count")]
        assert len(with_rules) >= 6
        assert summary["steps"]["freshness"]["status"] == "ok"
        assert summary["steps"]["freshness"]["sources"] == len(with_rules)
        assert summary["steps"]["alert"]["status"] == "ok" and summary["steps"]["alert"]["published"] is False
        _check_emf(summary)
        names = {m["Name"] for m in summary["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
        assert names == EMF_METRICS | {"DataAgeSeconds"}
        assert (summary["FilesLoaded"], summary["RowsLoaded"]) == (summary["steps"]["load"]["files"],
                                                                  summary["steps"]["load"]["rows"])
        assert 0 <= summary["DataAgeSeconds"] <= summary["CycleSeconds"] + 1
        print(f"cycle {summary['Cycle']}: {summary['CycleSeconds']:.1f} s, "
              f"{summary['FilesLoaded']} files, {summary['RowsLoaded']} rows")

    # B ran as a real process: its last stdout line is the summary, the human line is on stderr
    assert second.extra["exit_code"] == 0
    assert "unify cycle frequent: succeeded" in second.extra["stderr"]
    assert second.new_orders, "the continued day created orders"
    assert second.new_orders <= _fct_order_ids(cycles)
    assert second.after["analytics_marts.fct_orders"][0] > second.before["analytics_marts.fct_orders"][0]
    assert second.after["analytics_reporting.rpt_operations_health_daily"] != \
        second.before["analytics_reporting.rpt_operations_health_daily"]


def test_an_overlapping_cycle_is_refused_with_a_clear_message(cycles):
    step = cycles.steps["B"]
    assert step.extra["lock_seen"], "the first cycle never held the lock while the test watched"
    assert step.extra["refused_exit"] == 75
    output = step.extra["refused_output"]
    assert "another cycle holds the lock on schema 'analytics'" in output
    assert "unify cycle lock: cycle frequent run" in output  # who holds it
    assert "the next tick picks up the work" in output
    refused = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    assert refused["outcome"] == "refused" and refused["CycleRefused"] == 1 and refused["steps"] == {}
    assert "DataAgeSeconds" not in refused
    _check_emf(refused)
    assert step.summary["exit_code"] == 0  # the running one was not disturbed


def test_a_cycle_with_nothing_new_changes_nothing(cycles):
    step = cycles.steps["C"]
    summary = step.summary
    assert summary["outcome"] == "succeeded"
    assert (summary["steps"]["load"]["files"], summary["steps"]["load"]["rows"]) == (0, 0)
    assert step.before and step.after == step.before
    # no raw table has anything no build has read (the damaged delivery wrote nothing): only what moves with
    # time is built (tag as_of: the reporting tables, the completeness tests) and the load ledger's tests
    # (which report the quarantine); the marks stay what B recorded
    build = summary["steps"]["build"]
    assert (build["selector"], build["selection"]) == ("frequent", "nothing new: what moves with time")
    assert build["nodes_selected"].startswith("--select tag:as_of+ source:unify_loader+ --exclude tag:nightly")
    # every model and test that reads the as-of time carries the tag, or a quiet cycle would leave it stale
    manifest = json.loads((step.target_path / "manifest.json").read_text())
    now_dependent = {uid: node for uid, node in manifest["nodes"].items() if "as_of_timestamp()" in node["raw_code"]}
    assert len(now_dependent) >= 8
    assert [uid for uid, node in now_dependent.items() if "as_of" not in node["tags"]] == []
    run_results = json.loads((step.target_path / "run_results.json").read_text())
    assert run_results["args"]["which"] == "build"
    built = {r["unique_id"] for r in run_results["results"]}
    assert {"model.unify.rpt_operations_health_daily", "model.unify.rpt_sla_breach_risk_summary"} <= built
    assert "model.unify.fct_orders" not in built
    assert build["marks_recorded"] == cycles.steps["B"].summary["steps"]["build"]["marks_recorded"]
    assert build["counts"]["pass"] < cycles.steps["B"].summary["steps"]["build"]["counts"]["pass"] / 2
    print(f"nothing new: cycle {summary['CycleSeconds']:.1f} s (build {summary['steps']['build']['seconds']:.1f} s)")


def test_a_quarantined_delivery_is_alerted_once_as_a_warning(cycles):
    step = cycles.steps["C"]
    summary = step.summary
    load = summary["steps"]["load"]
    assert load["status"] == "warning" and load["quarantined"] == 1 and summary["FilesQuarantined"] == 1
    assert (summary["outcome"], summary["exit_code"]) == ("succeeded", 0)  # the marts are fine: a warning
    [envelope] = step.extra["messages"]
    assert envelope["MessageAttributes"]["severity"]["Value"] == "warning"
    message = envelope["Message"]
    assert "quarantined files" in message and step.extra["damaged"] in message
    assert "--retry-quarantined" in message
    assert summary["steps"]["alert"]["published"] is True and summary["steps"]["alert"]["warnings"] == 1
    # the ledger remembers it: later cycles do not quarantine it again, nor alert about it again
    for later in ("D", "E"):
        assert cycles.steps[later].summary["steps"]["load"]["quarantined"] == 0


def test_a_failed_cycle_leaves_the_marts_as_they_were_and_alerts(cycles):
    step = cycles.steps["D"]
    summary = step.summary
    assert (summary["outcome"], summary["exit_code"]) == ("failed", 1)
    assert summary["steps"]["load"]["status"] == "ok" and summary["steps"]["load"]["files"] > 0
    assert summary["steps"]["build"]["status"] == "failed" and summary["steps"]["build"]["errors"] >= 1
    assert "marks_recorded" not in summary["steps"]["build"]  # a failed build records nothing
    assert summary["CycleFailed"] == 1 and "DataAgeSeconds" not in summary

    # every table whose model failed, or was skipped after it, is exactly what it was before the cycle
    results = {r["unique_id"]: r for r in _run_results(step)["results"]}
    assert results["model.unify.fct_orders"]["status"] == "error"
    assert "lock timeout" in results["model.unify.fct_orders"]["message"]
    untouched = [r["relation_name"].replace('"', "").split(".", 1)[1] for r in results.values()
                 if r["status"] in ("error", "skipped") and r.get("relation_name")]
    untouched = [t for t in untouched if t in step.before]
    assert "analytics_marts.fct_orders" in untouched
    assert any(t.startswith("analytics_reporting.") for t in untouched)
    for table in untouched:
        assert step.after[table] == step.before[table], table

    [envelope] = step.extra["messages"]
    assert envelope["Subject"].startswith("[unify] unify cycle frequent on test:")
    assert envelope["MessageAttributes"]["severity"]["Value"] == "error"
    assert "model fct_orders" in envelope["Message"] and "lock timeout" in envelope["Message"]
    assert summary["steps"]["alert"]["published"] is True


def test_the_next_cycle_catches_up(cycles):
    step, failed = cycles.steps["E"], cycles.steps["D"]
    summary = step.summary
    assert summary["outcome"] == "succeeded" and summary["exit_code"] == 0
    assert summary["steps"]["load"]["files"] == 0  # D loaded them: the build is what catches up
    # nothing was loaded in this cycle, but D's TMS and Salesforce data was read by no successful build
    build = summary["steps"]["build"]
    assert build["selector"] == "frequent" and build["selection"].startswith("new data in ")
    assert "raw_tms.shipments" in build["selection"] and "raw_azureware.orders" in build["selection"]
    assert "source:azureware.orders+" in build["nodes_selected"]
    assert step.new_orders and step.new_orders <= _fct_order_ids(cycles)
    assert step.after["analytics_marts.fct_orders"] != failed.after["analytics_marts.fct_orders"]
    assert step.extra["messages"] == []  # nothing to report


def test_nightly_builds_everything_and_runs_post_cycle_steps(cycles):
    step, frequent = cycles.steps["F"], cycles.steps["A"]
    summary = step.summary
    build = summary["steps"]["build"]
    assert (build["status"], build["selector"], build["test_window_hours"]) == ("ok", "nightly", None)
    nightly_ids = {r["unique_id"] for r in _run_results(step)["results"]}
    frequent_ids = {r["unique_id"] for r in _run_results(frequent)["results"]}
    assert any(uid.startswith("unit_test.") for uid in nightly_ids)
    assert not any(uid.startswith("unit_test.") for uid in frequent_ids)
    assert "test.unify.assert_profitability_totals_match_facts" in nightly_ids - frequent_ids

    # post-cycle steps: in order, each on its own; one failing fails the cycle, not the others
    steps = summary["steps"]
    assert list(steps)[-3:] == ["failing_refresh", "recording_refresh", "alert"]
    assert "frequent_only" not in steps
    assert steps["failing_refresh"]["status"] == "failed"
    assert "SPICE ingestion refused (test)" in steps["failing_refresh"]["error"]
    recorded = steps["recording_refresh"]
    assert recorded["status"] == "ok" and recorded["cycle"] == "nightly" and recorded["build_succeeded"] is True
    assert recorded["schema"] == "analytics" and recorded["manifest_exists"] is True
    assert recorded["fct_orders_rows"] == step.after["analytics_marts.fct_orders"][0]
    assert (summary["outcome"], summary["exit_code"]) == ("failed", 1)
    [envelope] = step.extra["messages"]
    assert "cycle step failing_refresh" in envelope["Message"]


def test_redshift_cycles_refuse_to_run_without_the_production_lock(monkeypatch, capsys):
    monkeypatch.delenv("UNIFY_CYCLE_LOCK", raising=False)
    assert main(["cycle", "frequent", "--target", "prod", "--no-load"]) == 2
    captured = capsys.readouterr()
    assert "needs UNIFY_CYCLE_LOCK=s3://" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["outcome"] == "error"
