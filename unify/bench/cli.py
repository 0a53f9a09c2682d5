"""`unify bench`: the scale ladder on the local warehouse: how fast, at what cost, how it grows.

    unify bench                                  # tiny, small, medium, large, xlarge: ~45 min on 2 cores
    unify bench --scale large,xlarge
    unify bench --scale tiny --quick             # CI size: about a minute

For each scale (unify/bench/ladder.py): simulate (time, peak memory), load (rows/s against a bare
COPY FROM STDIN of the same files), a full build (`dbt build --selector nightly` of the fresh database),
then after a ~1% change batch the production frequent load cycle's build (`--selector frequent`, restricted
as `unify cycle frequent` restricts it to what the new data feeds; docs/warehouse-model.md, "Load cycles")
and the nightly build, the end to end latency of a new CDC file (the same frequent cycle), and the
dashboards' queries under row-level security at 1, 10 and 100
concurrent sessions as different users (unify/bench/concurrency.py); then the exponent of each cost's
growth with scale. The presets tiny..large simulate 7 days (--days); `xlarge` is the large scale's daily
volume over four times the history (28 days, ~4.6M order lines, ~6 GB of landing files while it runs),
where history dominates. Writes results.json and results.md into <UNIFY_HOME>/bench/<timestamp>/ (or
--out) and prints the Markdown. Goals are reported (goal and met columns), never enforced: the exit code
is 0 when every scale ran, 1 when a step failed (its error is in the results), 2 on a usage error.
Each scale runs in a private database `<prefix>_<scale>` (default prefix `bench`), never the shared
`unify` database, dropped afterwards with its landing folders unless --keep.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

from unify.bench.ladder import DEFAULT_CYCLE, DEFAULT_START, BenchOptions

DEFAULT_LADDER = "tiny,small,medium,large,xlarge"


def _positive_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"numbers must be positive: {text!r}")
    return values


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "bench",
        help="benchmarks on the local warehouse: scale ladder, load, builds, latency, dashboards under RLS",
        description=__doc__,
        epilog="Figures only: speed goals are reported in the table's goal/met columns, never asserted.",
    )
    parser.add_argument("--scale", default=DEFAULT_LADDER,
                        help=f"comma-separated rungs: xlarge (the large scale over 4x the days), simulator presets "
                             f"or numbers (default {DEFAULT_LADDER})")
    parser.add_argument("--quick", action="store_true",
                        help="CI size: 3 simulated days, fewer dashboard views (the scales stay what --scale says)")
    parser.add_argument("--days", type=int,
                        help="days of simulated history (default 7; 3 with --quick; xlarge: 4 times this)")
    parser.add_argument("--sessions", type=_positive_ints, default=(1, 10, 100),
                        help="concurrency levels (default 1,10,100)")
    parser.add_argument("--rounds", type=int,
                        help="dashboard views per session per level (default 3; 1 with --quick); levels with few "
                             "sessions run more, so that each level has at least 40 views (10 with --quick)")
    parser.add_argument("--lookback-minutes", type=int, default=BenchOptions.lookback_minutes,
                        help="incremental lookback of the incremental builds (default: the project's 0)")
    parser.add_argument("--test-window-hours", type=int, default=BenchOptions.test_window_hours,
                        help="the frequent cycle's test window (env UNIFY_TEST_WINDOW_HOURS; default "
                             f"{BenchOptions.test_window_hours}, the production WMS cycle's)")
    parser.add_argument("--cycle-selector", default=DEFAULT_CYCLE,
                        help=f"named build (selectors.yml) of the end-to-end cycle (default {DEFAULT_CYCLE}: "
                             "restricted to what the new files feed, as `unify cycle frequent` does)")
    parser.add_argument("--seed", type=int, default=42, help="the simulator's random seed")
    parser.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START,
                        help=f"first simulated day of a --days history (default {DEFAULT_START}: the history crosses "
                             "a month end); every rung's history ends on the same day (a longer one starts earlier), "
                             "and the models' 'now' is pinned to the end of the day after it")
    parser.add_argument("--database-prefix", default="bench",
                        help="private databases are <prefix>_<scale> (default bench)")
    parser.add_argument("--out", type=Path, help="output folder (default <UNIFY_HOME>/bench/<timestamp>)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and landing folders")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from unify.bench import ladder
    from unify.bench.results import BenchRun, markdown
    from loaders.config import load_settings
    from unify.dbt_runner import dbt_schema
    from unify.local_warehouse import LocalWarehouse, WarehouseError
    from unify.simulate.params import SimulationError

    scales = [s.strip() for s in args.scale.split(",") if s.strip()]
    days = args.days if args.days is not None else (3 if args.quick else 7)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    if days < 2 or rounds < 1 or args.lookback_minutes < 0 or args.test_window_hours < 0:
        print("unify bench: --days must be at least 2, --rounds at least 1, --lookback-minutes and "
              "--test-window-hours not negative", file=sys.stderr)
        return 2
    if max(args.sessions) > 200:
        print("unify bench: at most 200 sessions (the local warehouse allows 250 connections)", file=sys.stderr)
        return 2
    if not args.verbose:  # one progress line per step; the loaders' per-batch lines only with -v
        logging.getLogger("loaders").setLevel(logging.WARNING)
    # The builds are timed as production runs them, dbt's start-up included: never forked from the test
    # suite's preloaded dbt server (unify.dbt_runner, UNIFY_DBT_PRELOAD).
    os.environ.pop("UNIFY_DBT_PRELOAD", None)
    settings = load_settings()
    options = BenchOptions(days=days, seed=args.seed, start=args.start, sessions=args.sessions, rounds=rounds,
                           lookback_minutes=args.lookback_minutes, cycle_selector=args.cycle_selector, keep=args.keep,
                           schema=dbt_schema(), test_window_hours=args.test_window_hours)
    try:
        for s in scales:
            ladder.resolve_rung(s, options)
    except SimulationError as err:
        print(f"unify bench: {err}", file=sys.stderr)
        return 2
    started_at = datetime.now(timezone.utc)
    out = args.out or settings.home / "bench" / started_at.strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    try:
        LocalWarehouse(settings).start()
    except WarehouseError as err:
        print(f"unify bench: {err}", file=sys.stderr)
        return 1

    def say(message: str) -> None:
        print(f"[unify bench] {message}", file=sys.stderr, flush=True)

    command = "unify bench " + shlex.join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] \
        else f"unify bench --scale {args.scale}" + (" --quick" if args.quick else "")
    bench = BenchRun(started_at=started_at.isoformat(timespec="seconds"), machine=ladder.machine(),
                     command=command, quick=args.quick,
                     options={"days": days, "seed": args.seed, "start": args.start.isoformat(),
                              "as_of_at": options.as_of_at, "sessions": list(args.sessions), "rounds": rounds,
                              "lookback_minutes": args.lookback_minutes, "cycle_selector": args.cycle_selector,
                              "change_pct": options.change_pct, "frequent_cycle": options.frequent_command("<what unify cycle frequent selects>"),
                              "nightly": "dbt " + " ".join(ladder.NIGHTLY_ARGS)})
    t0 = time.perf_counter()
    for scale in scales:
        say(f"scale {scale}: start")
        result = ladder.run_scale(settings, scale, options, out, say, prefix=args.database_prefix)
        bench.scales.append(result)
        bench.seconds = round(time.perf_counter() - t0, 1)
        _write(out, bench, markdown)  # after every scale: a long ladder's figures are never lost
    text = (out / "results.md").read_text()
    print(text)
    print(f"Results: {out / 'results.json'} and {out / 'results.md'}")
    return 1 if any(s.error for s in bench.scales) else 0


def _write(out: Path, bench, markdown) -> None:
    (out / "results.json").write_text(json.dumps(bench.to_dict(), indent=2, default=str) + "\n")
    (out / "results.md").write_text(markdown(bench))


