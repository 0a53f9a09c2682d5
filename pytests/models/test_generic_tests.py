"""The project's generic tests (tests/generic/) fail when they should and pass when they should.

A throw-away dbt project holds the real generic test files and a good and a bad fixture for each;
`dbt build` must fail exactly the tests on the bad fixtures, with the failing-row counts the
fixtures were built to produce, and pass on the good ones.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from unify.dbt_runner import run_dbt

ROOT = Path(__file__).resolve().parents[2]

MODELS = {
    # composite key: (1, a) twice in the bad fixture
    "keys_good": "select 1 as k1, 'a' as k2 union all select 1, 'b' union all select 2, 'a'",
    "keys_bad": "select 1 as k1, 'a' as k2 union all select 1, 'a' union all select 2, 'a'",
    # expression: one row breaks margin = revenue - cost, one has a null
    "money_good": "select 10.0 as revenue, 4.0 as cost, 6.0 as margin",
    "money_bad": "select 10.0 as revenue, 4.0 as cost, 6.0 as margin "
                 "union all select 10.0, 4.0, 5.0 union all select 10.0, null, 6.0",
    # SCD2 windows: entity 1 overlaps, entity 2 has a reversed window
    "versions_good": "select 1 as k, cast('2026-01-01' as timestamp) as vf, cast('2026-02-01' as timestamp) as vt, "
                     "false as cur union all select 1, cast('2026-02-01' as timestamp), "
                     "cast('9999-12-31' as timestamp), true",
    "versions_bad": "select 1 as k, cast('2026-01-01' as timestamp) as vf, cast('2026-03-01' as timestamp) as vt, "
                    "true as cur union all select 1, cast('2026-02-01' as timestamp), "
                    "cast('9999-12-31' as timestamp), true "
                    "union all select 2, cast('2026-05-01' as timestamp), cast('2026-04-01' as timestamp), false",
}

SCHEMA_YML = """
version: 2
models:
{models}
"""
TESTS = {
    "keys": "      - unique_combination_of_columns:\n          arguments:\n            combination_of_columns: [k1, k2]",
    "money": "      - expression_is_true:\n          arguments:\n            expression: \"margin = revenue - cost\"",
    "versions": ("      - scd2_no_overlap:\n          arguments:\n            entity_key: k\n            valid_from: vf\n"
                 "            valid_to: vt\n      - scd2_one_current:\n          arguments:\n"
                 "            entity_key: k\n            is_current: cur"),
}
# failing rows each test must return on the bad fixture
EXPECTED_FAILURES = {
    "unique_combination_of_columns_keys_bad": 1,
    "expression_is_true_money_bad": 2,
    "scd2_no_overlap_versions_bad": 2,
    "scd2_one_current_versions_bad": 2,
}


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "generic_tests_project"
    (project / "models").mkdir(parents=True)
    shutil.copytree(ROOT / "tests" / "generic", project / "macros")
    (project / "dbt_project.yml").write_text(
        "name: generic_tests_fixture\nversion: '1.0'\nconfig-version: 2\nprofile: unify\n"
        "macro-paths: [macros]\nmodels:\n  generic_tests_fixture:\n    +materialized: table\n"
    )
    shutil.copy(ROOT / "profiles.yml", project / "profiles.yml") if (ROOT / "profiles.yml").exists() else \
        shutil.copy(ROOT / "profiles.yml.example", project / "profiles.yml")
    entries = []
    for name, sql in MODELS.items():
        (project / "models" / f"{name}.sql").write_text(sql + "\n")
        entries.append(f"  - name: {name}\n    data_tests:\n{TESTS[name.rsplit('_', 1)[0]]}")
    (project / "models" / "_fixtures.yml").write_text(SCHEMA_YML.format(models="\n".join(entries)))
    return project


def test_each_generic_test_fails_on_its_bad_fixture_and_passes_on_its_good_one(raw_database, tmp_path: Path):
    project = _project(tmp_path)
    settings = raw_database.__class__(**{**raw_database.__dict__, "root": project})
    target = tmp_path / "target"
    proc = run_dbt(["build"], settings, target_path=target, capture=True, check=False)
    results = json.loads((target / "run_results.json").read_text())["results"]
    tests = {r["unique_id"].split(".")[2]: r for r in results if r["unique_id"].startswith("test.")}
    assert len(tests) == 8, (sorted(tests), proc.stdout[-3000:])
    for name, result in tests.items():
        bad = next((prefix for prefix in EXPECTED_FAILURES if name.startswith(prefix)), None)
        if bad:
            assert result["status"] == "fail", (name, result["status"], result.get("message"))
            assert result["failures"] == EXPECTED_FAILURES[bad], (name, result["failures"])
        else:
            assert result["status"] == "pass", (name, result["status"], result.get("message"))
