"""`unify simulate`: write simulated DMS, AppFlow and TMS output to a landing zone (folder or S3).

    unify simulate --scale tiny --days 7 --start 2026-11-01 --seed 42 --format csv --faults none --out DIR
    unify simulate --continue --days 1 --out DIR
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from unify.simulate.params import FAULTS, FAULTS_DOC, PRESETS, SimulationError


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def add_parser(subparsers) -> argparse.ArgumentParser:
    faults_help = "; ".join(f"{name}: {text}" for name, text in FAULTS_DOC.items())
    parser = subparsers.add_parser(
        "simulate",
        help="write simulated DMS/AppFlow/TMS files to the landing zone",
        description="Simulate GLC's sources (AWS DMS CDC of the WMS, AppFlow Salesforce flows, TMS extracts) "
                    "in their real S3 formats. Same options and seed: byte-identical files.",
        epilog=f"Faults (comma-separated, or all / none): {faults_help}",
    )
    parser.add_argument("--scale", default=None,
                        help=f"{' | '.join(PRESETS)} or a number (1.0 = ~1,000 orders a day); default tiny")
    parser.add_argument("--days", type=int, default=None, help="days to simulate (default 7; 1 with --continue)")
    parser.add_argument("--start", type=_date, default=None,
                        help="first day, YYYY-MM-DD (default: today UTC minus --days, so the data ends now)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 42)")
    parser.add_argument("--format", dest="fmt", choices=("csv", "parquet"), default=None,
                        help="DMS and AppFlow file format (TMS extracts are always CSV); default csv")
    parser.add_argument("--faults", action="append", default=None, metavar="NAMES",
                        help=f"faults to inject: {', '.join(FAULTS)}, all, none (default none)")
    parser.add_argument("--out", default=None, help="landing zone: a folder or s3://bucket/prefix "
                                                    "(default: UNIFY_LANDING, i.e. Settings.landing)")
    parser.add_argument("--continue", dest="resume", action="store_true",
                        help="append the next --days days to the simulation already in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (it is off when not a TTY)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from loaders.config import load_settings
    from unify.simulate.engine import continue_simulation, simulate

    out = args.out or load_settings().landing
    progress = not args.no_progress
    try:
        if args.resume:
            given = [name for name, value in (("--scale", args.scale), ("--start", args.start), ("--seed", args.seed),
                                              ("--format", args.fmt), ("--faults", args.faults)) if value is not None]
            if given:
                print(f"unify simulate: {', '.join(given)} cannot change a simulation being continued "
                      "(its settings are saved with it)", file=sys.stderr)
                return 2
            report = continue_simulation(out, days=args.days or 1, progress=progress)
        else:
            report = simulate(out, scale=args.scale or "tiny", days=7 if args.days is None else args.days,
                              start=args.start, seed=42 if args.seed is None else args.seed, fmt=args.fmt or "csv",
                              faults=args.faults or (), progress=progress)
    except SimulationError as err:
        print(f"unify simulate: {err}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0
