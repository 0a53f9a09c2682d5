"""Shared simulator runs for the tests: each is simulated once per session (tiny scale, fixed start)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # _simfiles: the independent readers

from unify.simulate import SimulationReport, simulate  # noqa: E402

START = date(2026, 11, 1)


@dataclass
class Run:
    root: Path
    report: SimulationReport


def _run(factory, name: str, **kwargs) -> Run:
    root = factory.mktemp(name)
    return Run(root, simulate(str(root), start=START, **kwargs))


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory) -> Run:
    """The default: tiny, 7 days, CSV, no faults."""
    return _run(tmp_path_factory, "tiny_csv")


@pytest.fixture(scope="session")
def tiny_parquet(tmp_path_factory) -> Run:
    return _run(tmp_path_factory, "tiny_parquet", days=2, fmt="parquet")


@pytest.fixture(scope="session")
def all_faults_csv(tmp_path_factory) -> Run:
    return _run(tmp_path_factory, "all_faults", days=3, faults=["all"])


@pytest.fixture(scope="session")
def plausibility_run(tmp_path_factory) -> Run:
    """Two weeks at three times tiny: enough due orders per client for OTIF to mean something."""
    return _run(tmp_path_factory, "plausible", days=14, scale=0.3)
