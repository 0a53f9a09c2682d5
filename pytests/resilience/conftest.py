"""Fixtures of the resilience suite: simulated deliveries and a clean run to compare every recovery with.

- `landings`: tiny scale, every simulator fault, 3 days (`initial`), and the same plus one more day
  (`full`): what the sources have delivered before and after a daily cycle.
- `clean`: a database that went through the two cycles without any failure (load + `dbt build`, then
  load + incremental `dbt build`); it keeps the marts after each cycle, and a copy of the database as
  it was after the first cycle (`after_first_cycle`, for the test that kills dbt during the second).
The models' "now" is pinned and the incremental lookback is 0 minutes (as in pytests/models): the builds
are truly incremental, so a crash mid-way through an incremental run is really tested.
Databases are dropped at the end (UNIFY_KEEP_TEST_DB=1 keeps them).
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).parent))  # _resilience_helpers (a unique name: no shadowing)

from _resilience_helpers import (Landings, dbt_build, drop_database, marts, new_database,  # noqa: E402
                                 quarantined)

from loaders.config import Settings  # noqa: E402

FIRST_DAY = date(2026, 10, 27)
INITIAL_DAYS = 3


@dataclass
class CleanRun:
    settings: Settings
    after_first_cycle: Settings  # a copy of the database as the first cycle left it
    marts_first: dict[str, Counter]
    marts_second: dict[str, Counter]
    quarantined_first: set[str]
    quarantined_second: set[str]


@pytest.fixture(scope="session")
def landings(tmp_path_factory) -> Landings:
    from unify.simulate import continue_simulation, simulate

    base = tmp_path_factory.mktemp("resilience")
    initial, full = base / "initial", base / "full"
    simulate(str(initial), scale="tiny", days=INITIAL_DAYS, start=FIRST_DAY, seed=42, faults=["all"])
    shutil.copytree(initial, full)
    continue_simulation(str(full), days=1)
    return Landings(initial, full)


@pytest.fixture(scope="session")
def clean(warehouse: Settings, landings: Landings, tmp_path_factory) -> CleanRun:
    from loaders.load import EXIT_FAILED, load

    settings = new_database(warehouse, "clean")
    target = tmp_path_factory.mktemp("resilience_clean") / "target"
    first = load(settings, str(landings.initial))
    assert first.exit_code != EXIT_FAILED, first.summary()
    dbt_build(settings, target)
    marts_first, quarantined_first = marts(settings), quarantined(settings)
    copy = new_database(warehouse, "after_first", template=settings.pg_database)
    second = load(settings, str(landings.full))
    assert second.exit_code != EXIT_FAILED, second.summary()
    dbt_build(settings, target)
    run = CleanRun(settings, copy, marts_first, marts(settings), quarantined_first, quarantined(settings))
    yield run
    drop_database(warehouse, settings)
    drop_database(warehouse, copy)
