"""The main job is quiet (issue 15.4): `unify demo` prints one line per stage and its summary, never dbt's log.

The session's catalog fixture ran `unify demo` in its own process (tiny scale, no daily cycle, with the
docs); these tests read what it printed. `make demo` at its full size prints the same stages for its
three more cycles and a longer summary, under 80 lines in all (README "Two commands").
"""

from __future__ import annotations

import re

PREFIX = "[unify demo] "
RULE = "=" * 78
STAGES = ["warehouse: ", "fresh start: ", "initial load (3 days from 2026-10-27): simulated ",
          "initial load (3 days from 2026-10-27): loaded ",
          "initial load (3 days from 2026-10-27): dbt build in ", "docs: dbt docs generate in ",
          "docs: column lineage: ", "dashboards: rendered as "]
DBT_LOG_LINE = re.compile(r"\d+ of \d+ (START|OK|PASS|ERROR|SKIP)|Running with dbt=|Found \d+ models|Concurrency: ")


def test_the_demo_prints_one_line_per_stage_then_its_summary(catalog_site):
    lines = catalog_site.demo.stdout.splitlines()
    assert lines.count(RULE) == 2, "the summary opens and closes with a rule"
    first, last = lines.index(RULE), len(lines) - 1 - lines[::-1].index(RULE)
    stages, summary, after = lines[:first], lines[first:last + 1], lines[last + 1:]
    assert [line.startswith(PREFIX) for line in stages] == [True] * len(stages), stages
    assert len(stages) == len(STAGES), stages
    for line, stage in zip(stages, STAGES):
        assert line.removeprefix(PREFIX).startswith(stage), (line, stage)
    assert after == []
    assert not [line for line in lines if DBT_LOG_LINE.search(line)], "dbt's log reached the terminal"
    assert "ERROR=0" in stages[4] and "PASS=" in stages[4]
    assert len(lines) < 80 and len(summary) < 40


def test_the_summary_names_dbt_log_file_which_holds_every_run(catalog_site):
    out = catalog_site.demo.stdout
    log = catalog_site.target_path / "logs" / "dbt.log"
    assert f"dbt log:    {log}" in out
    text = log.read_text()
    assert "'invocation_command': 'dbt build" in text and "'invocation_command': 'dbt docs generate" in text
    assert re.search(r"Done\. PASS=\d+ WARN=0 ERROR=0", text)
    assert "\x1b[" not in text, "the log file is searchable text, no colour codes"
