"""The frequent cycle's test window (macros/testing/): what a windowed test still catches, what it leaves
to the nightly build, and that the nightly build (no window) is dbt's own behaviour.

A throw-away dbt project named `unify` holds the project's real test-window macros, its generic test
unique_combination_of_columns, and one model whose rows were loaded at two times: an old load and, a day
later, a new one. Each known problem is placed in one of them; `dbt build` runs once without the window
(the nightly build) and once with UNIFY_TEST_WINDOW_HOURS=6 (the frequent cycle), and each test must fail
with exactly the rows its scope can see.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest

from support import drop_database

from unify.dbt_runner import run_dbt

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW = "2026-01-01 10:00:00", "2026-01-02 10:00:00"  # the new load is the model's newest: window = 04:00..10:00

# (id, part, val, loaded_at): id 1 is loaded in both loads (a key touched now, duplicated against history),
# id 3 twice in the new load, id 6 twice in the old load only; val is null in new row 4 and in old row 5
LOADS = [
    (1, "a", 10, OLD), (2, "a", 20, OLD), (5, "a", None, OLD), (6, "a", 60, OLD), (6, "a", 61, OLD),
    (1, "a", 11, NEW), (3, "a", 30, NEW), (3, "a", 31, NEW), (4, "a", None, NEW), (7, "a", 70, NEW),
]
MODELS_YML = """
version: 2
models:
  - name: loads
    config:
      meta: {test_window_column: loaded_at}
    data_tests:
      - unique_combination_of_columns:
          arguments:
            combination_of_columns: [id, part]
    columns:
      - name: id
        data_tests: [unique]
      - name: val
        data_tests: [not_null]
  - name: history_only
    columns:
      - name: val
        data_tests: [not_null]
"""
SINGULAR = """
{%- set start = unify.test_window_start(ref('loads'), 'loaded_at') %}
select id
from {{ ref('loads') }}
where val is null
{%- if start %}
    and loaded_at >= {{ start }}
{%- endif %}
"""


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "test_window_project"
    (project / "models").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "macros").mkdir()
    for source in ("macros/testing", "macros/incremental"):
        for path in (ROOT / source).glob("*.sql"):
            shutil.copy(path, project / "macros" / path.name)
    shutil.copy(ROOT / "tests" / "generic" / "unique_combination_of_columns.sql", project / "macros")
    (project / "dbt_project.yml").write_text(
        "name: unify\nversion: '1.0'\nconfig-version: 2\nprofile: unify\nmacro-paths: [macros]\n"
        "vars:\n  test_window_hours: \"{{ env_var('UNIFY_TEST_WINDOW_HOURS', '') }}\"\n"
        "  incremental_lookback_minutes: 0\n"
        "models:\n  unify:\n    +materialized: table\n"
    )
    profile = ROOT / "profiles.yml" if (ROOT / "profiles.yml").exists() else ROOT / "profiles.yml.example"
    shutil.copy(profile, project / "profiles.yml")
    rows = " union all ".join(
        f"select {i} as id, '{part}' as part, cast({'null' if val is None else val} as integer) as val, "
        f"cast('{at}' as timestamp) as loaded_at" for i, part, val, at in LOADS
    )
    (project / "models" / "loads.sql").write_text(rows + "\n")
    (project / "models" / "history_only.sql").write_text("select cast(null as integer) as val\n")
    (project / "models" / "_models.yml").write_text(MODELS_YML)
    (project / "tests" / "null_vals_in_window.sql").write_text(SINGULAR)
    return project


def _build(project: Path, settings, target: Path, window: str) -> dict[str, tuple[str, int]]:
    proc = run_dbt(["build"], settings, target_path=target, capture=True, check=False,
                   env={"UNIFY_TEST_WINDOW_HOURS": window})
    results = json.loads((target / "run_results.json").read_text())["results"]
    tests = {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in results
             if r["unique_id"].startswith("test.")}
    assert len(tests) == 5, (sorted(tests), proc.stdout[-3000:])
    return {next(k for k in ("unique_combination", "unique_loads", "not_null_loads", "history_only", "null_vals")
                 if k in name): result for name, result in tests.items()}


@pytest.fixture(scope="module")
def builds(warehouse, tmp_path_factory):
    from unify.local_warehouse import LocalWarehouse

    tmp_path = tmp_path_factory.mktemp("test_window")
    name = f"test_window_{os.getpid()}"
    LocalWarehouse(warehouse).ensure_database(name)
    project = _project(tmp_path)
    settings = dataclasses.replace(warehouse.with_database(name), root=project)
    try:
        yield {window: _build(project, settings, tmp_path / f"target-{window or 'all'}", window)
               for window in ("", "6")}
    finally:
        drop_database(warehouse, name)


def test_without_a_window_every_test_sees_every_row(builds):
    nightly = builds[""]
    assert nightly["unique_loads"] == ("fail", 3)  # ids 1 (old and new), 3 (new twice), 6 (old twice)
    assert nightly["unique_combination"] == ("fail", 3)
    assert nightly["not_null_loads"] == ("fail", 2)  # rows 4 (new) and 5 (old)
    assert nightly["null_vals"] == ("fail", 2)
    assert nightly["history_only"] == ("fail", 1)


def test_the_window_checks_new_rows_and_the_keys_they_touch_across_the_whole_table(builds):
    frequent = builds["6"]
    # id 1's new row duplicates an old one: the key was touched, so it is checked against all of history;
    # id 3 is duplicated within the new load; id 6's duplicate lies in history only: the nightly build's
    assert frequent["unique_loads"] == ("fail", 2)
    assert frequent["unique_combination"] == ("fail", 2)
    # the new row's null is caught; the old row's is the nightly build's
    assert frequent["not_null_loads"] == ("fail", 1)
    assert frequent["null_vals"] == ("fail", 1)
    # a model without meta.test_window_column is tested in full in every cycle
    assert frequent["history_only"] == ("fail", 1)


def test_a_window_that_is_not_a_number_of_hours_stops_the_build(database, tmp_path):
    project = _project(tmp_path)
    settings = dataclasses.replace(database, root=project)
    proc = run_dbt(["compile", "--select", "test_type:singular"], settings, target_path=tmp_path / "target",
                   capture=True, check=False, env={"UNIFY_TEST_WINDOW_HOURS": "6h"})
    assert proc.returncode != 0
    assert "must be a whole number of hours or empty, not '6h'" in proc.stdout
