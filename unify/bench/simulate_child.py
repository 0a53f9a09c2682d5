"""The simulator in a process of its own, so that the benchmark measures its peak memory alone.

    python -m unify.bench.simulate_child simulate LANDING --scale large --days 7 --start 2026-11-01
    python -m unify.bench.simulate_child continue LANDING --days 1

Prints the run's report as one JSON object on stdout, with the process's peak resident set size (the
simulator's own getrusage figure: the child runs nothing else). `run_child` starts it and returns that
report with the child's wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path


class SimulateChildError(Exception):
    """The simulator subprocess failed; the message holds its exit status and the end of its output."""


@dataclass(frozen=True)
class ChildRun:
    report: dict
    seconds: float
    peak_rss_mb: float


def run_child(args: list[str], cwd: Path) -> ChildRun:
    cmd = [sys.executable, "-m", "unify.bench.simulate_child", *args]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
    seconds = time.perf_counter() - started
    stdout = proc.stdout
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise SimulateChildError(f"`{' '.join(cmd[1:])}` exited with {proc.returncode}:\n{tail}")
    try:
        report = json.loads(stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise SimulateChildError(f"`{' '.join(cmd[1:])}` printed no JSON report: {stdout[-500:]!r}") from None
    return ChildRun(report, seconds, float(report["peak_rss_mb"]))


def main(argv: list[str] | None = None) -> int:
    from unify.simulate import SimulationError, continue_simulation, simulate

    parser = argparse.ArgumentParser(prog="python -m unify.bench.simulate_child")
    parser.add_argument("mode", choices=("simulate", "continue"))
    parser.add_argument("landing")
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--start", type=date.fromisoformat)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    try:
        if args.mode == "simulate":
            report = simulate(args.landing, scale=args.scale, days=args.days, start=args.start, seed=args.seed,
                              faults=())
        else:
            report = continue_simulation(args.landing, days=args.days)
    except SimulationError as err:
        print(f"simulate: {err}", file=sys.stderr)
        return 1
    print(json.dumps({
        "first_day": report.first_day.isoformat(), "last_day": report.last_day.isoformat(),
        "files": report.files_written, "bytes": report.bytes_written, "records": report.rows_total,
        "rows_by_table": report.rows_by_table, "entities": report.entities, "seconds": report.seconds,
        "peak_rss_mb": report.peak_rss_mb,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
