"""`unify check <action>`: project checks that stand in for the production platform.

Actions (one module each; each registers its parser in add_parser below):
  redshift   offline Redshift-compatibility gate (unify/checks/redshift_gate.py)
  lint       sqlfluff over models, snapshots, analyses, tests, both incremental branches (lint.py)

Exit codes: 0 the check passed, 1 it found violations, 2 it could not run (the message says why).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from unify.checks.lint import LintError, run_lint
from unify.checks.redshift_gate import GateError, run_gate
from unify.checks.redshift_rules import RULES
from loaders.config import load_settings

EXIT_OK, EXIT_VIOLATIONS, EXIT_ERROR = 0, 1, 2


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="project checks: offline Redshift-compatibility gate, SQL lint",
        description="Project checks that stand in for the production platform. Exit codes: "
                    "0 passed, 1 violations found, 2 the check could not run.",
    )
    actions = parser.add_subparsers(dest="action", metavar="<action>")
    actions.required = True

    redshift = actions.add_parser(
        "redshift",
        help="compile every model, snapshot, test and analysis for Redshift offline and reject "
             "what Redshift does not support",
        description="Compiles the dbt project for each Redshift target of the profile template "
                    "(no connection: dummy settings), once with is_incremental() false and once true "
                    "for incremental models, parses the SQL with sqlglot's Redshift dialect and "
                    "reports each PostgreSQL-only construct with file, line and the Redshift way. "
                    f"Rules: {', '.join(RULES)}.",
    )
    redshift.add_argument("--project-dir", type=Path, default=None,
                          help="dbt project to check (default: this repository)")
    redshift.add_argument("--target", action="append", dest="targets", metavar="NAME",
                          help="Redshift target to compile for; repeat for several "
                               "(default: every redshift target in the profile template)")
    redshift.add_argument("--profiles-template", type=Path, default=None,
                          help="profile template with the Redshift targets (default: "
                               "<project>/profiles.yml.example)")
    redshift.add_argument("--work-dir", type=Path, default=None,
                          help="where compiled SQL and dbt logs go (default: $UNIFY_HOME/redshift-gate)")
    redshift.add_argument("--format", choices=("text", "json"), default="text",
                          help="report format on stdout (default: text)")
    redshift.set_defaults(func=run_redshift)

    lint = actions.add_parser(
        "lint",
        help="sqlfluff (dialect redshift, dbt templater, .sqlfluff rules) over models, snapshots, "
             "analyses and tests; incremental models in both branches",
        description="Runs sqlfluff with the project's .sqlfluff (needs the local warehouse: the dbt "
                    "templater renders with the `local` target), then lints files that call "
                    "is_incremental() again with it forced true.",
    )
    lint.add_argument("paths", nargs="*", help="files or folders (default: models snapshots analyses tests)")
    lint.add_argument("--processes", type=int, default=None,
                      help="sqlfluff processes (default: .sqlfluff's `processes`, 0 = one per CPU)")
    lint.set_defaults(func=run_lint_action)


def run_redshift(args: argparse.Namespace) -> int:
    settings = load_settings()
    project_dir = (args.project_dir or settings.root).resolve()
    work_dir = args.work_dir
    if work_dir is None:
        work_dir = settings.home / "redshift-gate" if project_dir == settings.root.resolve() \
            else project_dir / ".unify" / "redshift-gate"
    try:
        result = run_gate(project_dir, targets=args.targets, profiles_template=args.profiles_template,
                          work_dir=work_dir)
    except GateError as err:
        print(f"unify check redshift: {err}", file=sys.stderr)
        return EXIT_ERROR
    if args.format == "json":
        print(result.to_json())
    else:
        for violation in result.violations:
            print(violation.format())
        for query in result.offline_queries:
            print(f"note: {query['node']} queried the warehouse while compiling; offline it got no rows, "
                  f"so its compiled SQL may differ from production: {query['sql']}")
        summary = (
            f"Redshift gate: {result.nodes_checked} nodes compiled for target(s) {', '.join(result.targets)}"
            f" ({len(result.incremental_models)} incremental model(s) also with is_incremental() true)"
            f" in {result.seconds:.1f} s: "
        )
        if result.ok:
            print(summary + "no Redshift-incompatible SQL")
        else:
            files = len({v.file for v in result.violations})
            print(summary + f"{len(result.violations)} violation(s) in {files} file(s)")
    return EXIT_OK if result.ok else EXIT_VIOLATIONS


def run_lint_action(args: argparse.Namespace) -> int:
    try:
        passes = run_lint(load_settings(), paths=args.paths or None, processes=args.processes)
    except LintError as err:
        print(f"unify check lint: {err}", file=sys.stderr)
        return EXIT_ERROR
    for lint_pass in passes:
        state = {0: "clean", 1: "violations"}.get(lint_pass.exit_code, f"error (exit {lint_pass.exit_code})")
        print(f"sqlfluff {lint_pass.label}: {state} in {lint_pass.seconds:.1f} s")
    codes = {p.exit_code for p in passes}
    if codes - {0, 1}:
        return EXIT_ERROR
    return EXIT_VIOLATIONS if 1 in codes else EXIT_OK
