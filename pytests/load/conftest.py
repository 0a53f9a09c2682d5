"""Fixtures for the loader tests: simulator landings built once per session, helpers to run and inspect loads.

Every landing is written by the simulators (unify.simulate); tests that need a case the simulator
cannot produce (an SQL-injection key, a header cell crafted as SQL) derive it from simulated files.
Each test loads into its own database (the `database` fixture of pytests/conftest.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).parent))  # _load_oracle, _load_helpers (unique names: no shadowing)

from _load_helpers import START, Landing  # noqa: E402
from _load_oracle import read_landing  # noqa: E402

from unify.simulate import simulate  # noqa: E402


def _simulate(factory, name: str, **kwargs) -> Landing:
    root = factory.mktemp(name)
    simulate(str(root), start=START, seed=11, **kwargs)
    return Landing(root, read_landing(root))


@pytest.fixture(scope="session")
def clean_landing(tmp_path_factory) -> Landing:
    """Two tiny days, CSV, no faults: every object must load."""
    return _simulate(tmp_path_factory, "load_clean", days=2)


@pytest.fixture(scope="session")
def faults_csv(tmp_path_factory) -> Landing:
    """Two tiny days, CSV, every simulator fault."""
    return _simulate(tmp_path_factory, "load_faults_csv", days=2, faults=["all"])


@pytest.fixture(scope="session")
def faults_parquet(tmp_path_factory) -> Landing:
    """Two tiny days, Parquet (DMS and AppFlow), every simulator fault."""
    return _simulate(tmp_path_factory, "load_faults_parquet", days=2, fmt="parquet", faults=["all"])


@pytest.fixture(autouse=True)
def no_quiet_period(monkeypatch):
    """Files the tests write are complete when the loader runs: no quiet period (its own tests set one)."""
    monkeypatch.setenv("UNIFY_LOAD_QUIET_S", "0")
