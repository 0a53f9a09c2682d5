"""Fixtures for the quality-gate tests: fixture dbt projects copied to temporary folders.

Fixture projects live in pytests/checks/fixtures/ (never in the real models/). Each test session copies
them to a temporary folder together with the real files under test (macros/gate/is_incremental.sql,
.sqlfluff, profiles.yml.example), so dbt's output never lands in the repository.

Marker `project_gates`: the tests that run the Redshift gate and sqlfluff over the whole real project.
`make test` runs `make check lint` first and then deselects them (`-m "not project_gates"`), so the
two slowest project-wide runs do not happen twice; `pytest pytests/checks` runs everything.
"""

from __future__ import annotations

import uuid

import pytest
from support import drop_database

from loaders.config import Settings
from unify.local_warehouse import LocalWarehouse


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "project_gates: Redshift gate and sqlfluff over the whole real project "
                   "(run by `make check lint`; deselected by `make test`'s pytest step)"
    )


@pytest.fixture(scope="session")
def session_database(warehouse: Settings):
    """A throw-away database on the local warehouse shared by this folder's session fixtures."""
    name = f"test_checks_{uuid.uuid4().hex[:8]}"
    LocalWarehouse(warehouse).ensure_database(name)
    yield warehouse.with_database(name)
    drop_database(warehouse, name)


@pytest.fixture(scope="session")
def alert_project(tmp_path_factory, session_database):
    """The alerting fixture built on a throw-away database: `dbt build` (fails on purpose) then
    `dbt source freshness` (stale sources), both into <project>/target. Returns (project, settings)."""
    import psycopg2
    from checks_helpers import copy_fixture, project_settings

    from unify.dbt_runner import run_dbt

    project = copy_fixture("alerting", tmp_path_factory.mktemp("alert") / "project")
    settings = project_settings(session_database, project)
    conn = psycopg2.connect(settings.dsn())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute((project / "seed.sql").read_text())
    conn.close()
    target = project / "target"
    build = run_dbt(["build"], settings, target_path=target, capture=True, check=False)
    assert build.returncode == 1, build.stdout[-3000:]  # failing tests and a broken model, on purpose
    freshness = run_dbt(["source", "freshness"], settings, target_path=target, capture=True, check=False)
    assert freshness.returncode == 1, freshness.stdout[-3000:]  # shop.orders is stale
    return project, settings
