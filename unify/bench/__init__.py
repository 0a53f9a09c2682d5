"""Benchmarks: they measure and print figures; they never assert on time.

- `unify bench --scale tiny,small,medium,large`: the scale ladder (unify/bench/cli.py): simulate, load
  against a bare COPY, full and incremental dbt builds, end-to-end latency, the dashboards' queries under
  row-level security at 1, 10 and 100 sessions, and how each cost grows with scale.
- `python -m unify.bench.load_throughput --rows 1000000`: the loader against a bare `COPY FROM STDIN`.
"""


class BenchError(Exception):
    """A benchmark step could not run; the message names the step, the scale and why."""
