"""The offline Redshift gate: fixture models with each rejected construct fail with file, line and
hint; clean models pass; incremental branches are compiled; the real project passes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from checks_helpers import copy_fixture, marked_lines

from unify.checks.redshift_gate import Violation, map_line, run_gate
from unify.checks.redshift_rules import RULES, scan_sql
from loaders.config import load_settings

# What the hint must tell the author to write instead, per rule (the Redshift way).
HINT_MENTIONS = {
    "distinct-on": "row_number()",
    "aggregate-filter": "case when",
    "array": "listagg",
    "on-conflict": "MERGE",
    "generate-series": "recursive",
    "jsonb": "json_extract_path_text",
    "lateral": "window functions",
    "returning": "select the affected rows",
    "is-distinct-from": "coalesce(a <> b, true)",
    "pg-only-function": "listagg",
    "pg-only-type": "varchar(36)",
    "unparseable": "syntax",
}


@pytest.fixture(scope="session")
def gate_run(tmp_path_factory):
    """`unify check redshift --format json` on the fixture project: (exit code, report, project)."""
    project = copy_fixture("redshift_gate", tmp_path_factory.mktemp("gate") / "project")
    proc = subprocess.run(
        [sys.executable, "-m", "unify.cli", "check", "redshift", "--project-dir", str(project),
         "--format", "json"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.stdout.strip(), f"the gate printed no report:\n{proc.stderr[-3000:]}"
    return proc.returncode, json.loads(proc.stdout), project


def _reported(report: dict) -> set[tuple[str, int, str]]:
    return {(v["file"], v["line"], v["rule"]) for v in report["violations"]}


def test_gate_exits_1_on_violations(gate_run):
    code, report, _ = gate_run
    assert code == 1
    assert report["targets"] == ["prod", "ci"]


def test_every_marked_line_and_nothing_else_is_reported(gate_run):
    """Each `-- gate: <rule>` line is reported with that rule at that source line, and the clean
    models (valid Redshift: generate_series without a table, split_to_array, listagg, qualify,
    json_extract_path_text) are not reported at all."""
    _, report, project = gate_run
    expected = {(file, line, rule) for file, line, rule in marked_lines(project, "gate")}
    assert {rule for _, _, rule in expected} == set(HINT_MENTIONS)  # the fixture covers every rule
    assert _reported(report) == expected


@pytest.mark.parametrize("rule", sorted(HINT_MENTIONS))
def test_each_rule_reports_file_line_and_redshift_way(gate_run, rule):
    _, report, project = gate_run
    violations = [v for v in report["violations"] if v["rule"] == rule]
    assert violations, f"no {rule} violation reported"
    for violation in violations:
        assert violation["line_in"] == "source"
        source_line = (project / violation["file"]).read_text().splitlines()[violation["line"] - 1]
        assert f"-- gate: {rule}" in source_line
        assert HINT_MENTIONS[rule] in violation["hint"]
        assert violation["rule_title"] == RULES[rule].title


def test_line_is_mapped_through_jinja_that_shifts_lines(gate_run):
    """v_distinct_on.sql has a multi-line {% set %} block above the violation: the compiled line
    differs from the source line, and the report gives the source line."""
    _, report, project = gate_run
    [violation] = [v for v in report["violations"] if v["file"].endswith("v_distinct_on.sql")]
    assert violation["compiled_line"] != violation["line"]
    compiled = (project / violation["compiled_file"]).read_text().splitlines()
    assert "distinct on" in compiled[violation["compiled_line"] - 1]
    assert "distinct on" in (project / violation["file"]).read_text().splitlines()[violation["line"] - 1]


def test_incremental_branch_is_compiled_and_checked(gate_run):
    """v_incremental_branch.sql is valid Redshift on a full refresh; its is_incremental() branch
    uses an array: only the compile with is_incremental() forced true finds it."""
    _, report, _ = gate_run
    assert "model.gate_fixture.v_incremental_branch" in report["incremental_models"]
    [violation] = [v for v in report["violations"] if v["file"].endswith("v_incremental_branch.sql")]
    assert violation["rule"] == "array"
    assert sorted(violation["found_in"]) == ["ci+incremental", "prod+incremental"]
    assert "-incremental" in violation["compiled_file"]


def test_hooks_are_checked_on_their_literal_sql(gate_run):
    """dbt renders hooks only while building; the gate checks the SQL written in them (a hook that
    is only a macro call has nothing literal to check and is not reported)."""
    _, report, _ = gate_run
    [violation] = [v for v in report["violations"] if v["file"].endswith("v_post_hook.sql")]
    assert violation["rule"] == "on-conflict"
    assert violation["construct"] == "ON CONFLICT in post-hook"


def test_analyses_tests_and_yml_nodes_are_compiled(gate_run):
    _, report, _ = gate_run
    files = {v["file"] for v in report["violations"]}
    assert {"analyses/a_on_conflict.sql", "analyses/a_returning.sql",
            "tests/assert_scan_counts_positive.sql"} <= files
    # every model, the singular test, 2 analyses, the yml snapshot and 2 generic tests were checked
    assert report["nodes_checked"] >= 20


def test_text_report_names_file_line_rule_and_hint(gate_run):
    _, report, _ = gate_run
    data = next(v for v in report["violations"] if v["rule"] == "lateral")
    data = {k: v for k, v in data.items() if k != "rule_title"}
    text = Violation(**{**data, "found_in": tuple(data["found_in"])}).format()
    first, second, third = text.splitlines()
    assert first == f"models/violations/v_lateral.sql:{data['line']}: [lateral] LATERAL: not supported by Redshift"
    assert second.strip().startswith("Redshift way: join to a CTE")
    assert "compiled:" in third and "prod, ci" in third


def test_gate_refuses_incremental_models_without_the_override(tmp_path):
    """Without macros/gate/is_incremental.sql the incremental branch cannot be forced: the gate
    says so (exit 2) instead of silently checking only the full-refresh SQL."""
    project = copy_fixture("redshift_gate", tmp_path / "project")
    (project / "macros" / "gate" / "is_incremental.sql").unlink()
    for path in (project / "models" / "violations").glob("*.sql"):
        if path.name != "v_incremental_branch.sql":
            path.unlink()
    for path in [*(project / "analyses").glob("*.sql"), *(project / "tests").glob("*.sql")]:
        path.unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "unify.cli", "check", "redshift", "--project-dir", str(project),
         "--target", "prod"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 2
    assert "is_incremental() override" in proc.stderr


# ---------------------------------------------------------------- rules on plain SQL (no dbt)


@pytest.mark.parametrize(
    ("sql", "rules"),
    [
        ("select g from generate_series(1, 10) as g", []),
        ("with s as (select g from generate_series(1, 3) as g) select g from s", []),
        ("select t.a, g from t cross join generate_series(1, 3) as g", ["generate-series"]),
        ("with s as (select g from generate_series(1, 3) as g) select t.a from t inner join s on t.a = s.g",
         ["generate-series"]),
        ("select split_to_array(a, ',') as parts from t", []),
        ("select string_to_array(a, ',') as parts from t", ["array"]),
        ("select listagg(a, ',') within group (order by a) as l from t", []),
        ("select string_agg(a, ',') as l from t", ["pg-only-function"]),
        ("select json_extract_path_text(a, 'k') as k from t", []),
        ("select a -> 'k' as k from t", ["jsonb"]),
        ("select a #>> '{k,j}' as k from t", ["jsonb"]),
        ("select a from t where b && c", ["array"]),
        ("select a from t qualify row_number() over (partition by a order by b) = 1", []),
        ("select a from t where b = any(select c from u)", []),
        ("merge into t using s on t.a = s.a when matched then update set b = s.b "
         "when not matched then insert (a, b) values (s.a, s.b)", []),
        ("select regr_slope(y, x) as slope from t", ["pg-only-function"]),
        ("select cast(a as json) as j from t", ["jsonb"]),
        ("select cast(a as money) as m from t", ["pg-only-type"]),
    ],
)
def test_scan_sql_rules(sql, rules):
    assert [f.rule for f in scan_sql(sql)] == rules


def test_scan_sql_reports_each_line_once_per_rule():
    sql = "select\n    array_agg(a) as x,\n    array_agg(b) as y,\n    array[1, 2] as z\nfrom t"
    assert [(f.line, f.rule) for f in scan_sql(sql)] == [(2, "array"), (3, "array"), (4, "array")]


def test_map_line_through_jinja():
    source = "{% set cols = [\n    'a',\n] %}\nselect\n    {{ cols | join(', ') }},\n    b\nfrom {{ ref('t') }}\n"
    compiled = "\nselect\n    a,\n    b\nfrom \"db\".\"s\".\"t\"\n"
    assert map_line(source, compiled, 2) == 4      # select
    assert map_line(source, compiled, 3) == 5      # the rendered {{ cols }} line
    assert map_line(source, compiled, 5) == 7      # from {{ ref() }}


# ------------------------------------------------------------------------ the real project


@pytest.mark.project_gates
def test_real_project_passes_the_gate(tmp_path):
    settings = load_settings()
    result = run_gate(settings.root, work_dir=tmp_path / "gate")
    assert result.ok, "\n".join(v.format() for v in result.violations)
    models = list((settings.root / "models").rglob("*.sql"))
    assert result.nodes_checked >= len(models) > 0
    assert result.targets == ["dev", "ci", "prod"]
