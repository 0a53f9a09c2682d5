"""sqlfluff with the project's .sqlfluff: the configured conventions are enforced (fixture), both
incremental branches are linted, and the real project is clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from checks_helpers import ROOT, copy_fixture, marked_lines, project_settings

from unify.checks.lint import DEFAULT_PATHS, run_lint
from loaders.config import load_settings


@pytest.fixture(scope="module")
def lint_run(tmp_path_factory, session_database):
    """`run_lint` over the lint_style fixture with the real .sqlfluff: (project, passes)."""
    project = copy_fixture("lint_style", tmp_path_factory.mktemp("lint") / "project", sqlfluff=True)
    passes = run_lint(project_settings(session_database, project), capture=True)
    return project, passes


def _expected(project: Path, incremental: bool) -> set[tuple[str, int, str]]:
    expected = set()
    for file, line, text in marked_lines(project, "lint"):
        if text.endswith("(incremental)") != incremental:
            continue
        for code in text.replace("(incremental)", "").split():
            expected.add((file, line, code))
    return expected


def test_conventions_are_enforced_on_the_full_refresh_branch(lint_run):
    """Upper-case keywords and functions, implicit column alias, leading comma (and its indent),
    bare `join`, positional `group by`: each reported at its line; the clean model reports nothing."""
    project, passes = lint_run
    first = passes[0]
    assert first.exit_code == 1
    assert set(first.violations) == _expected(project, incremental=False)
    linted = {entry["filepath"] for entry in first.report}
    assert {"models/good_orders.sql", "models/bad_style.sql", "models/bad_incremental.sql"} <= linted


def test_incremental_branch_is_linted_too(lint_run):
    """bad_incremental.sql breaks the style only inside {% if is_incremental() %}: the first pass
    cannot see it, the second (is_incremental() true) reports it; good_orders.sql stays clean."""
    project, passes = lint_run
    assert len(passes) == 2
    second = passes[1]
    assert {entry["filepath"] for entry in second.report} == {"models/bad_incremental.sql",
                                                                "models/good_orders.sql"}
    assert set(second.violations) == _expected(project, incremental=True)
    assert not [v for v in passes[0].violations if v[0] == "models/bad_incremental.sql"]


@pytest.mark.project_gates
def test_real_project_has_no_lint_violations(warehouse):
    settings = load_settings()
    passes = run_lint(settings, capture=True)
    expected_files = {
        str(path.relative_to(ROOT))
        for folder in DEFAULT_PATHS
        for path in (ROOT / folder).rglob("*.sql")
        if "generic" not in path.relative_to(ROOT).parts  # .sqlfluffignore: test macros
    }
    linted = {entry["filepath"] for entry in passes[0].report}
    assert linted == expected_files
    problems = [v for lint_pass in passes for v in lint_pass.violations]
    assert not problems, "\n".join(f"{f}:{line}: {code}" for f, line, code in problems)
    assert all(lint_pass.exit_code == 0 for lint_pass in passes)
