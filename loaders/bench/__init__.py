"""Benchmarks: they measure and print figures; they never assert on time.

- `python -m loaders.bench.load_throughput --rows 1000000`: the loader against a bare `COPY FROM STDIN`.
"""
