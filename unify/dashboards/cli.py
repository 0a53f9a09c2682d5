"""`unify dashboards`: the local preview of the two dashboards, as one person sees them.

  unify dashboards --as amelia.hart@glc.example     render both dashboards with that person's login
  unify dashboards --check-sql | --write-sql         analyses/ against the spec (each visual's query)

The page goes to <UNIFY_HOME>/dashboards/<person>.html (--out to change); `unify docs serve` serves the
folder at /dashboards/. Filters keep their defaults (the newest 28 days, 12 months, the last complete
month) unless pinned (--from/--to, --months-from/--months-to, --month, --warehouse, --client).

Exit codes: 0 done, 1 analyses/ differs from the spec (--check-sql), 2 it could not run (the message
says why).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

EXIT_OK, EXIT_STALE, EXIT_ERROR = 0, 1, 2


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dashboards", help="render Operations Health and Client Profitability as a person sees them (Plotly)",
        description=__doc__.split("\n\n")[0], epilog="docs/dashboards.md")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--as", dest="person", metavar="PERSON",
                      help="the person's login (Salesforce Username); their warehouse login role runs the queries")
    what.add_argument("--check-sql", action="store_true", help="exit 1 when analyses/ differs from the spec")
    what.add_argument("--write-sql", action="store_true", help="write each visual's query to analyses/")
    parser.add_argument("--out", type=Path, default=None, help="folder of the pages (default <UNIFY_HOME>/dashboards)")
    parser.add_argument("--from", dest="date_from", type=date.fromisoformat, help="first day (Operations Health)")
    parser.add_argument("--to", dest="date_to", type=date.fromisoformat, help="last day (Operations Health)")
    parser.add_argument("--months-from", type=date.fromisoformat, help="first month, YYYY-MM-01 (Client Profitability)")
    parser.add_argument("--months-to", type=date.fromisoformat, help="last month, YYYY-MM-01 (Client Profitability)")
    parser.add_argument("--month", type=date.fromisoformat,
                        help="the month of the per-client comparisons, YYYY-MM-01 (default: last complete month)")
    parser.add_argument("--warehouse", action="append", default=[], help="warehouse code (repeatable)")
    parser.add_argument("--client", action="append", default=[], help="client name (repeatable)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from loaders.config import load_settings, project_root
    from unify.dashboards.preview import DashboardError, render_dashboards
    from unify.dashboards.queries import FilterValues, check_analyses, write_analyses
    from unify.dashboards.spec import SpecError, load_spec

    try:
        if args.check_sql or args.write_sql:
            spec, folder = load_spec(), project_root() / "analyses"
            if args.write_sql:
                for path in write_analyses(spec, folder):
                    print(f"wrote {path}")
                return EXIT_OK
            problems = check_analyses(spec, folder)
            for problem in problems:
                print(problem)
            if problems:
                print("run `unify dashboards --write-sql`", file=sys.stderr)
            return EXIT_STALE if problems else EXIT_OK
        pinned = FilterValues(date_from=args.date_from, date_to=args.date_to, month_from=args.months_from,
                              month_to=args.months_to, report_month=args.month,
                              values={k: tuple(v) for k, v in (("warehouse", args.warehouse),
                                                                 ("client", args.client)) if v})
        path = render_dashboards(load_settings(), args.person, args.out, pinned)
    except (SpecError, DashboardError) as err:
        print(f"unify dashboards: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(f"Dashboards as {args.person}: {path}")
    print("  serve them beside the catalog: `unify docs serve`, then http://127.0.0.1:8080/dashboards/")
    return EXIT_OK
