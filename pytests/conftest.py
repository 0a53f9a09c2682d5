"""Shared pytest fixtures: the real local warehouse, throw-away databases, moto's S3 server over HTTP.

Python tests live in pytests/ (dbt's data tests live in tests/: dbt looks there, pytest does not).
Every test that needs a warehouse gets its own database on the one local PostgreSQL server, so tests
never see each other's tables and never touch the demo's `unify` database.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from loaders.config import Settings, load_settings
from unify.local_warehouse import LocalWarehouse

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".unify" / "test-artifacts"

# dbt forked from a server that imported it once (unify.dbt_runner, UNIFY_DBT_PRELOAD): each of the suite's
# ~150 dbt invocations skips dbt's 3-5 s start-up. UNIFY_DBT_PRELOAD=0 starts the dbt executable each time,
# as production does (pytests/test_dbt_runner.py runs both ways).
os.environ.setdefault("UNIFY_DBT_PRELOAD", "1")

# Parallel runs (`make test`: pytest-xdist, `-n 2 --dist loadscope --no-loadscope-reorder`). A unit of work
# runs whole on one worker. The folders below share session fixtures (a warehouse built once for all
# their files), so each is one unit: nothing is built twice. Elsewhere each test file is a unit. Units
# are handed out longest first (seconds they took in a two-worker run, 2026-12-06, rounded; a unit not
# listed comes after these, in collection order), so the two workers finish at about the same time.
SHARED_FIXTURE_FOLDERS = ("access", "catalog", "dashboards", "models", "ops", "resilience")
UNIT_SECONDS = {"models": 255, "access": 250, "ops": 195, "resilience": 100, "feeds/test_reference_data.py": 95,
                "bench/test_bench.py": 55, "feeds/test_missing_source_data.py": 40, "catalog": 40,
                "dashboards": 40, "feeds/test_same_key_correction.py": 35}


def work_unit(nodeid: str) -> str:
    """The unit of work of a test (by its node id): a folder of SHARED_FIXTURE_FOLDERS, else its file
    (relative to pytests/)."""
    path = nodeid.split("::", 1)[0].removeprefix("pytests/")
    folder = path.split("/", 1)[0]
    return folder if folder in SHARED_FIXTURE_FOLDERS else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """xdist's scheduler by scope, the scope being work_unit's (its --dist loadgroup cannot be used: with
    pytest 9 the group name no longer reaches the node ids it schedules by)."""
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnitScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    if not hasattr(config, "workerinput"):  # only on xdist's workers: a serial run keeps pytest's order
        return
    items.sort(key=lambda item: -UNIT_SECONDS.get(work_unit(item.nodeid), 0))  # stable: a unit keeps its order


@pytest.fixture(scope="session")
def warehouse() -> Settings:
    """The local warehouse, started if needed (idempotent), as Settings for the default database."""
    settings = load_settings()
    LocalWarehouse(settings).start()
    return settings


@pytest.fixture
def database(warehouse: Settings, request) -> Settings:
    """A fresh, empty database for one test; dropped afterwards (UNIFY_KEEP_TEST_DB=1 keeps it)."""
    name = f"test_{request.node.name[:30].lower()}_{uuid.uuid4().hex[:8]}"
    name = "".join(c if c.isalnum() else "_" for c in name)
    settings = warehouse.with_database(name)
    LocalWarehouse(warehouse).ensure_database(name)
    yield settings
    drop_database(warehouse, name)


from support import drop_database, free_port  # noqa: E402  (pytests/support.py: helpers tests import by name)


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 (and SNS) server on a free loopback port, reached over real HTTP by boto3."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")}
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": url})
    yield url
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def s3_bucket(s3_endpoint):
    """A fresh bucket on the moto server; returns its name."""
    import boto3

    name = f"glc-raw-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests save what a reviewer should look at (screenshots, reports): .unify/test-artifacts."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
