"""What a frequent cycle builds (unify/cycle_selection.py): the rule, the dbt selection it becomes, and the
marks on PostgreSQL (loaded by the real loader from hand-written deliveries). The Redshift statements are
checked in pytests/load/test_load_redshift.py; the whole cycle's use of it in test_cycle.py (the `cycles`
scenario: a cycle with only a WMS delivery builds only what reads it; the cycle after a failed one builds
everything the failed one did not finish)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from loaders.load import EXIT_OK, EXIT_QUARANTINED, load
from loaders.source_tables import ALL_TABLES
from unify import cycle_selection
from unify.cycle_selection import ALWAYS, FULL, SOURCE_OF, WMS_ONLY, Selection, choose, selector_exclusions

ROOT = Path(__file__).resolve().parents[2]
T = datetime(2026, 12, 6, 12, 0, 0)
ORDERS, LINES, CLIENTS = "raw_azureware.orders", "raw_azureware.order_lines", "raw_azureware.clients"
CARRIERS, CONTRACTS = "raw_tms.carriers", "raw_salesforce.contracts"


def test_a_cycle_builds_what_reads_the_raw_tables_with_new_data():
    marks = {ORDERS: T, LINES: T, CLIENTS: T, CARRIERS: T, CONTRACTS: T}
    later = T + timedelta(microseconds=1)  # stamps rise by 1 µs at least: no tolerance on the comparison
    orders = choose({**marks, ORDERS: later, LINES: later}, marks)
    assert (orders.selector, orders.restricted_to) == (FULL, (LINES, ORDERS))
    assert orders.reason == "new data in raw_azureware.order_lines, raw_azureware.orders"
    assert orders.dbt_args() == ["--select", "source:azureware.order_lines+", "source:azureware.orders+", *ALWAYS,
                                 "--exclude", "tag:nightly", "tag:finance_monthly", "resource_type:unit_test"]
    # any source, not only the WMS: a TMS extract builds what reads it
    assert choose({**marks, CARRIERS: later}, marks).restricted_to == (CARRIERS,)
    # a raw table with a batch but no mark yet (a new table) is new
    assert choose({**marks, "raw_azureware.products": T}, marks).restricted_to == ("raw_azureware.products",)
    # nothing new: what moves with time (tag as_of: reporting tables, completeness tests) and the ledger's tests
    quiet = choose(dict(marks), marks)
    assert quiet.restricted_to == () and quiet.dbt_args()[:1 + len(ALWAYS)] == ["--select", *ALWAYS]
    # a raw table without a mark nor a batch is not new
    assert choose({ORDERS: T}, {ORDERS: T}).restricted_to == ()


def test_no_marks_or_an_unknown_raw_table_builds_the_whole_frequent_selector():
    first = choose({ORDERS: T}, {})  # a first cycle, or marks never recorded
    assert (first.restricted_to, first.dbt_args()) == (None, ["--selector", FULL])
    unknown = choose({ORDERS: T, "raw_newsystem.things": T}, {ORDERS: T})
    assert unknown.restricted_to is None and "raw_newsystem.things" in unknown.reason


def test_every_raw_table_is_a_source_of_the_project():
    """The loaders' raw tables are the dbt sources the restricted selection names (source <system>,
    schema raw_<system>, table <raw table>), and `frequent`'s exclusions are read from selectors.yml."""
    declared = set()
    for path in (ROOT / "models" / "staging").glob("*/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            declared |= {(source["name"], source.get("schema"), t["name"]) for t in source["tables"]}
    for table in ALL_TABLES:
        assert (table.system, table.raw_schema, table.raw_table) in declared, table.qualified_raw_name
        assert SOURCE_OF[table.qualified_raw_name] == f"source:{table.system}.{table.raw_table}"
    assert selector_exclusions(FULL) == ("tag:nightly", "tag:finance_monthly", "resource_type:unit_test")
    with pytest.raises(ValueError, match="not 'everything except"):
        selector_exclusions(WMS_ONLY)  # an intersection: not a selector a cycle restricts


def test_what_a_build_may_record():
    newest = {ORDERS: T, CARRIERS: T}
    assert Selection(WMS_ONLY, "", newest).covered() == {ORDERS: T}  # the named WMS build: its raw tables
    assert Selection(FULL, "", newest, restricted_to=(ORDERS,)).covered() == newest  # the others had no news
    assert Selection(FULL, "", newest).covered() == newest
    assert Selection("nightly", "", newest).covered() == newest


FEEDS = Path(__file__).resolve().parents[1] / "feeds" / "landing"  # hand-written deliveries


def _land(root: Path, key: str) -> None:
    (root / key).parent.mkdir(parents=True, exist_ok=True)
    (root / key).write_bytes((FEEDS / key).read_bytes())


def test_marks_on_postgresql_follow_the_loads_per_dbt_schema(database, tmp_path, monkeypatch):
    monkeypatch.delenv("UNIFY_LOAD_TARGET", raising=False)
    monkeypatch.setenv("UNIFY_LOAD_QUIET_S", "0")
    root = tmp_path / "landing"
    _land(root, "dms/azureware/dbo/Orders/20261102-235900123.csv")
    _land(root, "tms/carriers/dt=2026-11-02/carriers-20261102.csv")
    assert load(database, str(root)).exit_code == EXIT_OK
    first = cycle_selection.select(database, FULL, "analytics")
    assert (first.restricted_to, set(first.newest)) == (None, {ORDERS, CARRIERS})
    assert cycle_selection.record(database, "analytics", first) == first.newest

    _land(root, "dms/azureware/dbo/Orders/20261105-0100001111.csv")  # the WMS's orders alone
    assert load(database, str(root)).exit_code == EXIT_OK
    wms = cycle_selection.select(database, FULL, "analytics")
    assert wms.restricted_to == (ORDERS,) and wms.newest[ORDERS] > first.newest[ORDERS]
    assert cycle_selection.record(database, "analytics", wms) == wms.newest
    # another dbt schema on the same raw tables has its own marks: none yet
    assert cycle_selection.select(database, FULL, "dev_someone").restricted_to is None
    # TMS deliveries that write no row are nothing new: a damaged extract (quarantined) and a day without
    # carrier changes (the header alone)
    header = "mode,carrier_id,carrier_name,scac,updated_at"
    (root / "tms/carriers/dt=2026-11-03").mkdir(parents=True)
    (root / "tms/carriers/dt=2026-11-03/carriers-20261103.csv").write_text(
        f"{header}\r\nROAD,C9,\"Unclosed quote,KHLT,2026-11-03T06:00:00Z\r\n")
    (root / "tms/carriers/dt=2026-11-04").mkdir(parents=True)
    (root / "tms/carriers/dt=2026-11-04/carriers-20261104.csv").write_text(header + "\r\n")
    report = load(database, str(root))
    assert report.exit_code == EXIT_QUARANTINED and (report.new, len(report.quarantined)) == (2, 1)
    assert cycle_selection.select(database, FULL, "analytics").restricted_to == ()

    _land(root, "tms/carriers/dt=2026-11-05/carriers-20261105.csv")  # then the TMS
    assert load(database, str(root)).exit_code == EXIT_OK
    tms = cycle_selection.select(database, FULL, "analytics")
    assert (tms.restricted_to, tms.reason) == ((CARRIERS,), "new data in raw_tms.carriers")
    # the nightly is never narrowed, and records every raw table
    nightly = cycle_selection.select(database, "nightly", "analytics")
    assert nightly.dbt_args() == ["--selector", "nightly"]
    assert cycle_selection.record(database, "analytics", nightly) == nightly.newest
    assert cycle_selection.select(database, FULL, "analytics").restricted_to == ()


def test_unreadable_marks_build_everything(monkeypatch):
    def broken(_settings):
        raise ConnectionError("the warehouse is down")

    monkeypatch.setattr(cycle_selection, "_warehouse", broken)
    chosen = cycle_selection.select(None, FULL, "analytics")  # type: ignore[arg-type]
    assert chosen.dbt_args() == ["--selector", FULL] and "could not be read (ConnectionError)" in chosen.reason
    assert chosen.covered() == {}  # nothing read, nothing recorded after the build
    assert cycle_selection.record(None, "analytics", Selection(FULL, "", {ORDERS: T})) == {}  # type: ignore


def test_a_build_that_cannot_be_restricted_is_built_whole(monkeypatch):
    def unreadable(_name, _path=None):
        raise FileNotFoundError("selectors.yml")

    monkeypatch.setattr(cycle_selection, "_read", lambda _settings, _schema: ({ORDERS: T + timedelta(hours=1)},
                                                                               {ORDERS: T}))
    assert cycle_selection.select(None, FULL, "analytics").restricted_to == (ORDERS,)  # type: ignore[arg-type]
    monkeypatch.setattr(cycle_selection, "selector_exclusions", unreadable)
    chosen = cycle_selection.select(None, FULL, "analytics")  # type: ignore[arg-type]
    assert chosen.dbt_args() == ["--selector", FULL] and "could not be restricted (FileNotFoundError)" in chosen.reason
    assert chosen.covered() == {ORDERS: T + timedelta(hours=1)}  # the whole build read it all


def test_a_cycle_of_wms_orders_leaves_the_reference_tables_dimensions_and_mapping_alone(warehouse, tmp_path):
    """The usual WMS cycle (orders, their lines, stock), as dbt resolves its selection on the real project:
    it builds the order facts and what moves with time, and leaves out what only the WMS's clients,
    warehouses and products, the TMS and Salesforce feed (the dimensions, the row-security mapping, their
    tests) and finance's monthly models."""
    from unify.dbt_runner import run_dbt

    usual = choose({ORDERS: T + timedelta(hours=1), LINES: T + timedelta(hours=1),
                    "raw_azureware.inventory_balances": T + timedelta(hours=1), CLIENTS: T},
                   {ORDERS: T, LINES: T, "raw_azureware.inventory_balances": T, CLIENTS: T})
    listed = run_dbt(["ls", *usual.dbt_args(), "--resource-type", "model", "--resource-type", "snapshot",
                      "--resource-type", "test", "--output", "json", "--output-keys", "name", "depends_on"],
                     warehouse, target_path=tmp_path / "target", capture=True)
    nodes = [json.loads(line) for line in listed.stdout.splitlines() if line.startswith("{")]
    names = {n["name"] for n in nodes}
    built = {"stg_azureware__orders", "stg_azureware__order_lines", "stg_azureware__inventory_balances",
             "fct_orders", "fct_order_lines", "rpt_operations_health_daily", "rpt_sla_breach_risk",
             "rpt_carrier_on_time_daily"}
    assert built <= names, sorted(built - names)
    left_alone = {"stg_azureware__clients", "stg_azureware__warehouses", "stg_azureware__products",
                  "stg_salesforce__accounts", "stg_tms__carriers", "dim_client", "dim_warehouse", "dim_product",
                  "dim_contract", "dim_carrier", "access_client_grants", "fct_client_profitability_monthly",
                  "rpt_client_profitability_monthly"}
    assert not left_alone & names, sorted(left_alone & names)
    # nor a test that reads only what it leaves alone (the facts' relationships tests to a dimension stay)
    only_left_alone = [n["name"] for n in nodes if n["depends_on"]["nodes"] and all(
        parent.rsplit(".", 1)[-1] in left_alone for parent in n["depends_on"]["nodes"])]
    assert not only_left_alone, only_left_alone
    assert any(n["name"].startswith("relationships_fct_orders_client_id") for n in nodes)
