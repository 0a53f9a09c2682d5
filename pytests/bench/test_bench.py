"""`unify bench --scale tiny --quick`: it runs end to end and reports every measure with sane values.

No timed assertion (speed goals are figures in the table's goal/met columns); what is checked is what a
reader of the table relies on: every measure is there, each figure is consistent with the others, the
dashboards' queries ran under row-level security as different people without an error, and the
benchmark leaves no database or login behind.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest

from unify.bench.results import MEASURES, BenchRun, ScaleResult, SimulateFigures, exponent, markdown

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick_run(warehouse, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "out"
    prefix = f"test_bench_{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UNIFY_AS_OF", "UNIFY_INCREMENTAL"))}
    proc = subprocess.run([sys.executable, "-m", "unify.cli", "bench", "--scale", "tiny", "--quick", "--out",
                           str(out), "--database-prefix", prefix], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    return {"proc": proc, "out": out, "prefix": prefix, "settings": warehouse}


def test_quick_bench_exits_cleanly_and_prints_its_table(quick_run):
    proc = quick_run["proc"]
    assert proc.returncode == 0, proc.stderr[-4000:]
    md = (quick_run["out"] / "results.md").read_text()
    assert md in proc.stdout
    for m in MEASURES:
        assert f"| {m.label} ({m.unit}) |" in md, m.label
    assert "| measure | tiny |" in md and "goal (largest scale)" in md
    assert "*frequent cycle* = the production load cycle's build, `UNIFY_TEST_WINDOW_HOURS=6 dbt build" in md


def test_quick_bench_json_has_every_measure_with_sane_values(quick_run):
    data = json.loads((quick_run["out"] / "results.json").read_text())
    [scale] = data["scales"]
    assert scale["error"] is None
    values = {m["key"]: m["values"]["tiny"] for m in data["measures"]}
    assert set(values) == {m.key for m in MEASURES}
    missing = [k for k, v in values.items() if v is None]
    assert missing == [], f"measures without a figure: {missing}"

    sim, load, build, latency = scale["simulate"], scale["load"], scale["build"], scale["latency"]
    assert 0 < sim["order_lines"] <= sim["records"] and sim["orders"] <= sim["order_lines"]
    assert sim["seconds"] > 0 and 10 < sim["peak_rss_mb"] < 4000
    assert load["loader_rows"] == load["bare_rows"] > 0  # the same data on both sides
    assert load["loader_rows"] + load["other_rows"] == pytest.approx(sim["records"], rel=0.01)
    assert 0 < load["ratio"] < 10 and 0 < load["bulk_ratio"] < 10
    assert load["ratio"] == pytest.approx(load["bare_s"] / load["loader_s"], rel=0.01)
    # each side's storage reads, after the files were read once: Linux says (/proc/self/io), so numbers
    assert all(isinstance(load[k], float) and load[k] >= 0 for k in ("bare_storage_mb", "loader_storage_mb"))
    assert build["full_s"] > 0 and build["incremental_s"] > 0 and build["full_nodes"] > 50
    assert 0.5 <= build["change_pct"] <= 5, "the change batch is not about 1% of the data"
    assert build["ratio"] == pytest.approx(build["incremental_s"] / build["full_s"], rel=0.01)
    assert build["lookback_minutes"] == 0
    # the incremental measure is the production frequent cycle: windowed tests, no nightly-only tests, no unit
    # tests; the nightly build after it runs every test, unit tests included
    # the change batch is WMS CDC alone, and the full build recorded what it read: `unify cycle frequent`
    # builds what reads the WMS tables in the batch and what moves with time (unify/cycle_selection.py)
    changed = build["frequent_selection"].removeprefix("new data in ").split(", ")
    assert "raw_azureware.orders" in changed and all(t.startswith("raw_azureware.") for t in changed)
    assert build["frequent_command"].startswith("UNIFY_TEST_WINDOW_HOURS=6 dbt build --select ")
    assert "source:azureware.orders+" in build["frequent_command"]
    assert build["frequent_command"].endswith("--exclude tag:nightly tag:finance_monthly resource_type:unit_test")
    assert data["options"]["nightly"] == "dbt build --selector nightly"
    frequent, nightly = build["incremental_detail"]["nodes_by_type"], build["nightly_detail"]["nodes_by_type"]
    assert "unit_test" not in frequent and nightly["unit_test"] >= 5
    assert 0 < frequent["test"] < nightly["test"], "the nightly-only tests must run in the nightly build only"
    assert 0 < frequent["model"] < nightly["model"] - 2, "neither finance's monthly models nor the other sources'"
    assert "seed" not in frequent, "no seed"
    # the snapshots of the WMS's products and warehouses run when their raw tables have news
    assert ("snapshot" in frequent) == any(t in changed for t in ("raw_azureware.products",
                                                                  "raw_azureware.warehouses"))
    assert build["full_detail"]["nodes_by_type"] == nightly
    assert build["nightly_ratio"] == pytest.approx(build["nightly_s"] / build["full_s"], rel=0.01)
    for detail in (build["full_detail"], build["incremental_detail"], build["nightly_detail"]):
        assert 0 < detail["test_share"] < 1
    assert latency["new_orders"] >= 1 and latency["files"] >= 1
    # the end-to-end step builds what `unify cycle frequent` selects for its files (WMS CDC)
    assert "`UNIFY_TEST_WINDOW_HOURS=6 dbt build <what unify cycle frequent selects>` (--select " in latency["cycle"]
    assert "source:azureware.orders+" in latency["cycle"] and "source:tms." not in latency["cycle"]
    assert 0 < latency["build_nodes"] < sum(nightly.values()), "the frequent cycle builds a part of the nightly"
    assert latency["land_s"] <= latency["loaded_s"] <= latency["fct_visible_s"] <= latency["build_done_s"] + 1
    assert latency["fct_visible_s"] <= latency["rpt_visible_s"] <= latency["build_done_s"] + 1
    assert latency["total_s"] == max(latency["fct_visible_s"], latency["rpt_visible_s"])


def test_quick_bench_ran_the_dashboards_as_different_people_under_row_level_security(quick_run):
    data = json.loads((quick_run["out"] / "results.json").read_text())
    [scale] = data["scales"]
    assert scale["rls"].startswith("on for ")
    levels = {c["sessions"]: c for c in scale["concurrency"]}
    assert sorted(levels) == [1, 10, 100]
    for n, level in levels.items():
        assert level["errors"] == 0, level["first_error"]
        assert level["queries"] >= n
        assert 0 < level["p50_s"] <= level["p95_s"] <= level["max_s"]
        assert sum(level["roles"].values()) == n
        # each dashboard query's own p95 (the slow one is named), every visual's query among them
        assert set(level["per_query_p95_s"]) == set(scale["rows_seen"]), level["per_query_p95_s"]
        assert max(level["per_query_p95_s"].values()) <= level["max_s"]
        # the sessions' first views (new connections) apart: every session has one
        assert 0 < level["first_view_p95_s"] <= level["max_s"]
    # one session runs 10 views in the quick bench (at least 10 per level), so it has later views too; 100
    # sessions run one view each, so none
    assert 0 < levels[1]["later_views_p95_s"] <= levels[1]["max_s"]
    assert levels[100]["later_views_p95_s"] is None
    assert levels[10]["users"] > 1 and len(levels[10]["roles"]) >= 3
    assert {"unify_account_manager", "unify_analyst", "unify_finance"} <= set(levels[100]["roles"])
    # the policies filter: an account manager sees fewer rows of the client-scoped dashboard than exist,
    # while finance sees them all
    seen = scale["rows_seen"]["client_profitability__profitability_by_client"]
    assert seen["all_rows"] > 0
    assert seen["unify_account_manager"][1] < seen["all_rows"]
    assert seen["unify_finance"] == [seen["all_rows"], seen["all_rows"]]


def test_quick_bench_leaves_no_database_and_no_login_behind(quick_run):
    settings, prefix = quick_run["settings"], quick_run["prefix"]
    assert quick_run["proc"].returncode == 0, quick_run["proc"].stderr[-2000:]
    [scale] = json.loads((quick_run["out"] / "results.json").read_text())["scales"]
    assert scale["database"] == f"{prefix}_tiny"  # the run did create (and so had to drop) its database
    conn = psycopg2.connect(settings.dsn(database="postgres"))
    try:
        with conn.cursor() as cur:
            cur.execute("select datname from pg_database where starts_with(datname, %s)", (prefix,))
            assert cur.fetchall() == []
            cur.execute("select rolname from pg_roles where starts_with(rolname, %s)", (prefix,))
            assert cur.fetchall() == []
    finally:
        conn.close()
    assert not any(p.name.startswith(("landing-", "next-")) for p in quick_run["out"].iterdir())


def _scale(name: str, lines: int, build_s: float) -> ScaleResult:
    from unify.bench.results import BuildFigures

    result = ScaleResult(name, 1.0, f"bench_{name}")
    result.simulate = SimulateFigures(1.0, 50.0, 7, lines // 4, lines, lines * 7, 10, 1.0)
    result.build = BuildFigures(build_s, 200, 0.1, 10, 1.0, 5, 60.0, 0.1, build_s / 4, 3)
    return result


def test_first_views_and_later_views_have_their_own_p95_and_whole_views_count_in_neither():
    from unify.bench.concurrency import SessionUser, _Timing, view_split_p95

    user = SessionUser("amelia", "unify_account_manager")
    timings = [_Timing(user, "ops", "q1", 0.1, 1, 0), _Timing(user, "ops", "q2", 0.3, 1, 0),
               _Timing(user, "ops", "q1", 0.2, 1, 0), _Timing(user, "ops", None, 9.0, 3, 0),  # a whole view
               _Timing(user, "fin", "q3", 0.02, 1, 1), _Timing(user, "fin", "q3", 0.01, 1, 2),
               _Timing(user, "fin", None, 8.0, 2, 1)]
    # inclusive p95 of 0.1, 0.2, 0.3: 0.2 + 0.9 * 0.1; of 0.01, 0.02: 0.01 + 0.95 * 0.01
    assert view_split_p95(timings) == (0.29, 0.0195)
    assert view_split_p95(timings[:4]) == (0.29, None)  # one view per session: no later views


def test_growth_exponent_is_the_log_log_slope_over_the_ladder():
    # cost = 2 * lines^0.5 exactly: the fit must find 0.5 whatever the constant
    scales = [_scale(n, lines, 2 * math.sqrt(lines)) for n, lines in (("a", 1_000), ("b", 10_000), ("c", 1_000_000))]
    assert exponent(scales, lambda s: s.build.full_s) == pytest.approx(0.5, abs=1e-3)
    assert exponent(scales[:1], lambda s: s.build.full_s) is None  # one point fits nothing
    run = BenchRun("2026-11-23T00:00:00+00:00", {"description": "test"}, "unify bench", False, {}, scales)
    assert run.largest() is scales[-1]
    row = next(line for line in markdown(run).splitlines() if line.startswith("| dbt build, full (s)"))
    assert row.count(" 0.50 ") == 2 and f" {1.3 ** 0.5:.2f} " in row  # over the ladder, and the two largest


def test_a_goal_set_for_one_rung_is_judged_at_that_rung():
    # issue #18: the frequent cycle / full build at most 0.25 at large, 0.15 at xlarge
    [ratio] = [m for m in MEASURES if m.key == "incremental_ratio"]
    large, xlarge = _scale("large", 1_000_000, 40.0), _scale("xlarge", 4_000_000, 40.0)
    for s in (large, xlarge):
        s.build.incremental_s = 8.0  # ratio 0.2
    assert (ratio.goal_text(large), ratio.met(large)) == ("<= 0.25", True)
    assert (ratio.goal_text(xlarge), ratio.met(xlarge)) == ("<= 0.15", False)
    run = BenchRun("2026-12-06T00:00:00+00:00", {"description": "test"}, "unify bench", False, {}, [large, xlarge])
    row = next(line for line in markdown(run).splitlines() if line.startswith("| frequent cycle / full build"))
    assert row.endswith("| <= 0.15 | NO |")


def test_the_xlarge_rung_is_the_large_scale_over_four_times_the_history_ending_on_the_same_day():
    from datetime import date

    from unify.bench.ladder import BenchOptions, resolve_rung
    from unify.simulate.params import PRESETS, SimulationError

    options = BenchOptions()
    assert resolve_rung("xlarge", options) == (PRESETS["large"], "xlarge", 4 * options.days)
    assert resolve_rung("large", options) == (PRESETS["large"], "large", options.days)
    assert resolve_rung("7.5", options) == (7.5, "7.5", options.days)
    with pytest.raises(SimulationError):
        resolve_rung("huge", options)
    # every rung's history ends on the same day, so "now" (as_of_at) is the same for all
    assert options.history_end == date(2026, 11, 3) and options.as_of_at == "2026-11-05 00:00:00"



def test_markdown_table_aligns_numbers_right_and_escapes_pipes():
    from unify.bench.results import markdown_table

    lines = markdown_table(["measure", "tiny", "met"], [["a | b (s)", "1,234.5", "yes"], ["c", "–", ""]], right={1})
    assert lines == ["| measure | tiny | met |", "| --- | ---: | --- |", "| a \\| b (s) | 1,234.5 | yes |",
                     "| c | – |  |"]
    with pytest.raises(ValueError):
        markdown_table(["a", "b"], [["only one"]])
