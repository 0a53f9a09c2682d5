"""Fixtures of the hand-written feeds tests: the landing zone of pytests/feeds/landing (CASES.md),
loaded with `unify load` into a database of its own and built with `dbt build`.

- `hand_built`: the whole landing zone, loaded and built once for the session.
- `fresh_database`: an empty database for a test that loads a variant of the landing zone.
Databases are dropped at the end (UNIFY_KEEP_TEST_DB=1 keeps them).
"""

from __future__ import annotations

import pytest

import support
from feeds_support import Built, landing_copy, load_and_build, new_database
from loaders.config import Settings


@pytest.fixture(scope="session")
def hand_built(warehouse: Settings, tmp_path_factory) -> Built:
    base = tmp_path_factory.mktemp("feeds")
    settings = new_database(warehouse)
    try:
        yield load_and_build(settings, landing_copy(base / "landing"), base / "target")
    finally:
        support.drop_database(warehouse, settings.pg_database)


@pytest.fixture
def fresh_database(warehouse: Settings) -> Settings:
    settings = new_database(warehouse)
    yield settings
    support.drop_database(warehouse, settings.pg_database)
