"""Source freshness per table with realistic limits (models/staging/*/_*__sources.yml).

The hand-written landing zone is loaded, then every load time (raw `_loaded_at`, ledger `recorded_at`) is
moved back as if the last load had happened 16 minutes, 3 days or 10 days ago, and `dbt source freshness`
judges each table. The busy WMS tables warn 16 minutes after a load (the 15-minute latency target);
tables that rarely change (warehouses, clients, users: no limit; products, accounts, contracts: days) do
not; the TMS extracts are as fresh as their last loaded file (the load ledger), daily.
"""

from __future__ import annotations

import json

import pytest

import support
from feeds_support import DBT_ENV, landing_copy, unify_load
from loaders.source_tables import ALL_TABLES
from unify.dbt_runner import run_dbt

EXPECTED = {
    # source.table: (16 minutes, 3 days, 10 days)
    "azureware.orders": ("warn", "error", "error"),
    "azureware.order_lines": ("warn", "error", "error"),
    "azureware.inventory_balances": ("warn", "error", "error"),
    "azureware.products": ("pass", "pass", "warn"),  # warn after 7 days, error after 30
    "salesforce.accounts": ("pass", "pass", "warn"),  # warn after 7 days, error after 21
    "salesforce.contracts": ("pass", "pass", "pass"),  # warn after 35 days
    "tms.carriers": ("pass", "error", "error"),  # warn after 26 hours, error after 50
    "tms.shipments": ("pass", "error", "error"),
    "tms.tracking_events": ("pass", "error", "error"),
    "unify_loader.load_ledger": ("pass", "error", "error"),  # warn after 2 hours, error after 6
}
# no freshness at all: changes are rare and a quiet table is no alarm
UNCHECKED = {"azureware.warehouses", "azureware.clients", "salesforce.users", "unify_loader.load_batches"}


@pytest.fixture(scope="module")
def loaded(warehouse, tmp_path_factory):
    from feeds_support import new_database

    settings = new_database(warehouse)
    landing = landing_copy(tmp_path_factory.mktemp("freshness") / "landing")
    assert unify_load(settings, landing).returncode == 0
    yield settings
    support.drop_database(warehouse, settings.pg_database)


def _age_loads(settings, interval: str) -> None:
    """Every load as if it had happened `interval` ago."""
    for table in ALL_TABLES:
        support.execute(settings, f"update {table.qualified_raw_name} set _loaded_at = "
                                  f"(now() at time zone 'utc') - interval '{interval}'")
    support.execute(settings, f"update unify_loader.load_ledger set recorded_at = "
                              f"(now() at time zone 'utc') - interval '{interval}'")


@pytest.mark.parametrize("position, interval", [(0, "16 minutes"), (1, "3 days"), (2, "10 days")])
def test_each_table_is_judged_by_its_own_limits(loaded, tmp_path, position, interval):
    _age_loads(loaded, interval)
    target = tmp_path / "target"
    run_dbt(["source", "freshness"], loaded, target_path=target, capture=True, check=False, env=DBT_ENV)
    results = json.loads((target / "sources.json").read_text())["results"]
    statuses = {r["unique_id"].split(".", 2)[2]: r["status"] for r in results}
    assert statuses == {name: expected[position] for name, expected in EXPECTED.items()}, statuses
    assert not UNCHECKED & set(statuses)
