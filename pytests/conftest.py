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
