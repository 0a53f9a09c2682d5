"""The warehouse model built by the main job on simulated data with every fault switched on.

One session-scoped main job (unify.demo.run_main_job: initial load + build, then daily cycles)
and one catch-up build of the same landed files are shared by every test here. The production cadence
(`frequent_then_nightly`: the same files delivered in the order their sources wrote them, several
`dbt build --selector frequent` cycles, then `--selector nightly`) is compared with the catch-up too.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from support import drop_database, pinned_env, query

from unify.dbt_runner import run_dbt
from unify.summary import otif_by_client_last_month
from reference_metrics import compute

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 6)  # conftest.AS_OF_AT
FIRST_DAY, INITIAL_DAYS = date(2026, 10, 27), 8  # conftest's: the main job's first day and initial load

# Columns that record WHEN a run saw data (load times, build time): they may differ between a
# catch-up and several daily cycles; nothing else may.
RUN_DEPENDENT = {"source_loaded_at", "last_loaded_at", "evaluated_at"}
COMPARED_RELATIONS = [
    ("analytics_marts", "fct_orders", "order_id"),
    ("analytics_marts", "fct_order_lines", "order_line_id"),
    ("analytics_marts", "fct_shipments", "shipment_id"),
    ("analytics_marts", "fct_client_profitability_monthly", "client_id, ship_month"),
    ("analytics_marts", "dim_client", "client_version_key"),
    ("analytics_marts", "dim_contract", "contract_version_key"),
    ("analytics_marts", "dim_account_manager", "user_id"),
    ("analytics_marts", "dim_warehouse", "warehouse_id"),
    ("analytics_marts", "dim_product", "product_id"),
    ("analytics_marts", "dim_carrier", "carrier_id"),
    ("analytics_reporting", "rpt_operations_health_daily", "client_id, warehouse_id, activity_date"),
    ("analytics_reporting", "rpt_carrier_on_time_daily", "client_id, warehouse_id, carrier_id, activity_date"),
    ("analytics_reporting", "rpt_client_profitability_monthly", "client_id, month_start_date"),
    ("analytics_reporting", "rpt_sla_breach_risk", "order_id"),
]


def _results_by_status(built) -> dict[str, list[str]]:
    by_status: dict[str, list[str]] = {}
    for result in built.run_results()["results"]:
        by_status.setdefault(result["status"], []).append(result["unique_id"])
    return by_status


def test_main_job_builds_every_node_and_every_test_passes(main_job):
    by_status = _results_by_status(main_job)
    no_ops = by_status.pop("no-op", [])
    assert all(uid.startswith("exposure.") for uid in no_ops), no_ops
    assert set(by_status) <= {"success", "pass"}, {k: v for k, v in by_status.items() if k not in ("success", "pass")}
    ids = [uid for ids in by_status.values() for uid in ids]
    assert sum(uid.startswith("test.") for uid in ids) > 150
    assert sum(uid.startswith("unit_test.") for uid in ids) >= 4
    rows = dict(main_job.query("select 'orders', count(*) from analytics_marts.fct_orders"))
    assert rows["orders"] > 500
    # the last daily cycle really was incremental: it rewrote only the orders that changed
    last_build = {r["unique_id"]: r for r in main_job.run_results()["results"]}
    for model, table in (("stg_azureware__orders", "analytics_staging.stg_azureware__orders"),
                         ("fct_orders", "analytics_marts.fct_orders")):
        rewritten = last_build[f"model.unify.{model}"]["adapter_response"]["rows_affected"]
        total = main_job.query(f"select count(*) from {table}")[0][0]
        assert 0 < rewritten < total / 2, (model, rewritten, total)
        print(f"last daily cycle: {model} rewrote {rewritten} of {total} rows")
    print(f"main job ({main_job.seconds:.0f} s): {sum(len(v) for v in by_status.values())} nodes, "
          f"{rows['orders']} orders in fct_orders")


def test_every_model_is_described_column_by_column_and_has_a_primary_key_test(main_job):
    manifest = main_job.manifest()
    nodes = manifest["nodes"]
    models = {uid: n for uid, n in nodes.items()
              if n["resource_type"] in ("model", "snapshot", "seed") and n["package_name"] == "unify"}
    assert len([m for m in models.values() if m["resource_type"] == "model"]) >= 25
    tested: dict[str, set[str]] = {}
    for node in nodes.values():
        if node["resource_type"] != "test" or not node.get("attached_node"):
            continue
        meta = node.get("test_metadata") or {}
        name = meta.get("name")
        column = node.get("column_name") or ""
        tested.setdefault(node["attached_node"], set()).add(f"{name}:{column}")
    problems = []
    for uid, node in models.items():
        if not node["description"].strip():
            problems.append(f"{uid}: no description")
        if node["resource_type"] == "model" and not node["description"].lstrip().startswith("One row per"):
            problems.append(f"{uid}: description does not start with the grain ('One row per ...')")
        catalog_columns = {c for c in node["columns"]}
        for name, column in node["columns"].items():
            if not column.get("description", "").strip():
                problems.append(f"{uid}.{name}: no description")
        if node["resource_type"] == "model":
            compiled = (main_job.target_path / "compiled" / "unify" / node["original_file_path"])
            assert compiled.exists(), compiled
        tests = tested.get(uid, set())
        has_unique = any(t.startswith(("unique:", "unique_combination_of_columns:")) for t in tests)
        has_not_null = any(t.startswith("not_null:") for t in tests)
        if node["resource_type"] != "seed" or catalog_columns:
            if not (has_unique and has_not_null):
                problems.append(f"{uid}: no primary-key test (unique + not_null): {sorted(tests)}")
    assert not problems, "\n".join(problems)


def test_every_model_column_in_the_warehouse_is_documented(main_job):
    """What the warehouse holds (information_schema) against what the yml describes."""
    manifest = main_job.manifest()
    documented = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] in ("model", "snapshot") and node["package_name"] == "unify":
            documented[(node["schema"], node["alias"])] = set(node["columns"])
    rows = main_job.query(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_schema like 'analytics%%'"
    )
    missing = sorted(f"{s}.{t}.{c}" for s, t, c in rows if (s, t) in documented and c not in documented[(s, t)]
                     and not c.startswith("dbt_"))
    assert not missing, missing


def test_otif_and_profitability_match_a_plain_python_computation_from_the_landed_files(main_job):
    otif, profit, landed = compute(main_job.landing, ROOT / "seeds", AS_OF)
    assert otif and profit, "the simulation must produce due and shipped orders"
    assert {m for _, m in profit} == {date(2026, 10, 1), date(2026, 11, 1)}, "the window crosses a month end"
    rpt = {(r["client_id"], r["month_start_date"]): r
           for r in main_job.dict_rows("select * from analytics_reporting.rpt_client_profitability_monthly")}
    fct = {(r["client_id"], r["ship_month"]): r
           for r in main_job.dict_rows("select * from analytics_marts.fct_client_profitability_monthly")}
    assert {r["as_of_date"] for r in rpt.values()} == {AS_OF}
    # OTIF: exact counts per client and promised month
    got_otif = {k: (r["due_orders"], r["on_time_orders"], r["in_full_orders"], r["otif_orders"])
                for k, r in rpt.items() if r["due_orders"]}
    want_otif = {k: (o.due_orders, o.on_time_orders, o.in_full_orders, o.otif_orders) for k, o in otif.items()}
    assert got_otif == want_otif
    for k, o in otif.items():
        expected_pct = (Decimal(100) * o.otif_orders / o.due_orders).quantize(Decimal("0.01"))
        assert abs(rpt[k]["otif_pct"] - expected_pct) <= Decimal("0.01"), k
    # profitability: exact counts, money to the cent, per client and ship month
    assert set(fct) == set(profit)
    money = ("handling_fee_revenue_usd", "pick_fee_revenue_usd", "freight_recharge_revenue_usd", "revenue_usd",
             "freight_cost_usd", "warehouse_handling_cost_usd", "cost_usd", "gross_margin_usd")
    for key, want in profit.items():
        got = fct[key]
        assert (got["shipped_orders"], got["units_shipped"]) == (want.shipped_orders, want.units_shipped), key
        for name in money:
            assert abs(got[name] - getattr(want, name)) < Decimal("0.01"), (key, name, got[name], getattr(want, name))
    assert sum(r.revenue_usd for r in profit.values()) > 0
    print(f"compared {len(otif)} client-months of OTIF and {len(profit)} of profitability; "
          f"{len(landed.skipped)} landed files rejected as unreadable")


def test_summary_otif_by_client_last_month_matches_the_reference(main_job):
    otif, _profit, landed = compute(main_job.landing, ROOT / "seeds", AS_OF)
    rows = otif_by_client_last_month(main_job.settings, main_job.target_path)  # the analysis, as dbt compiles it
    last_month = date(2026, 10, 1)
    code_of = {int(r["clientid"]): r["clientcode"] for r in landed.tables["clients"]}
    want = {code_of[cid]: (o.due_orders, o.otif_orders) for (cid, month), o in otif.items() if month == last_month}
    assert want, "October must have due orders"
    assert {r["client_code"]: (r["due_orders"], r["otif_orders"]) for r in rows} == want
    assert all(r["month_start_date"] == last_month for r in rows)


def _relation_rows(built, schema: str, table: str, order_by: str) -> tuple[list[str], list[tuple]]:
    columns = [c for (c,) in built.query(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
        "order by ordinal_position", (schema, table))]
    kept = [c for c in columns if c not in RUN_DEPENDENT]
    rows = built.query(f"select {', '.join(kept)} from {schema}.{table} order by {order_by}")
    return kept, rows


@pytest.mark.parametrize("schema, table, order_by", COMPARED_RELATIONS, ids=[t for _, t, _ in COMPARED_RELATIONS])
def test_numbers_do_not_depend_on_how_often_the_pipeline_ran(main_job, catch_up, schema, table, order_by):
    """Several daily cycles (incremental builds) vs one catch-up load and build: identical rows."""
    columns, daily = _relation_rows(main_job, schema, table, order_by)
    columns_catch_up, caught_up = _relation_rows(catch_up, schema, table, order_by)
    assert columns == columns_catch_up
    assert daily, f"{table} is empty"
    assert len(daily) == len(caught_up)
    assert daily == caught_up


# ---------------------------------------------------------------------------------- production cadence
FINANCE_MONTHLY = ("fct_client_profitability_monthly", "rpt_client_profitability_monthly")  # tag finance_monthly


def _cycle_ends() -> list[datetime]:
    """Where the frequent cycles fall: after the initial days, then twice a day (midday, midnight)."""
    start = datetime.combine(FIRST_DAY + timedelta(days=INITIAL_DAYS), datetime.min.time())
    return [start] + [start + timedelta(hours=12 * n) for n in range(1, 6)]


@pytest.fixture(scope="module")
def frequent_then_nightly(warehouse, main_job, tmp_path_factory):
    """The main job's landed files delivered in the order their sources wrote them (the bench's
    delivered_at: DMS by file time, AppFlow by execution, TMS the night after its day), each delivery
    loaded and built by the production frequent cycle (`UNIFY_TEST_WINDOW_HOURS=6 dbt build --selector
    frequent`), the first one on an empty database; then the nightly build (`--selector nightly`). Returns
    the database and, per frequent cycle, what it left (the finance monthly tables that existed, the
    operations dashboard's due orders with an OTIF target; after the last, the compared relations)."""
    from loaders.load import EXIT_FAILED, LoaderConfig, load
    from unify.bench.ladder import delivered_at

    from unify.local_warehouse import LocalWarehouse

    name = f"test_models_cadence_{uuid.uuid4().hex[:8]}"
    LocalWarehouse(warehouse).ensure_database(name)
    settings = warehouse.with_database(name)
    base = tmp_path_factory.mktemp("cadence")
    landing, target = base / "landing", base / "target"
    files = sorted(p for p in main_job.landing.rglob("*")
                   if p.is_file() and not p.relative_to(main_job.landing).as_posix().startswith("_simulator/"))
    pending = {p: delivered_at(p.relative_to(main_job.landing).as_posix(), FIRST_DAY) for p in files}
    config = replace(LoaderConfig.from_env(), quiet_s=0.0)  # files copied whole
    after_frequent: list[dict] = []
    try:
        with pinned_env(UNIFY_INCREMENTAL_LOOKBACK_MINUTES="0"):
            ends = _cycle_ends()
            as_of = datetime.combine(AS_OF, datetime.min.time())
            for n, end in enumerate(ends):
                last = n == len(ends) - 1
                # the cycle's "now" is the delivery time it replays (a completeness test must not expect
                # a TMS extract that is not due yet), up to the catch-up's as-of day
                due = [p for p, at in pending.items() if last or at < end]
                for path in due:
                    copy = landing / path.relative_to(main_job.landing)
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, copy)
                    del pending[path]
                report = load(settings, str(landing), config=config)
                assert report.exit_code != EXIT_FAILED, report.summary()
                now = f"{min(end, as_of):%Y-%m-%d %H:%M:%S}"
                run_dbt(["build", "--selector", "frequent"], settings, target_path=target, capture=True,
                        env={"UNIFY_TEST_WINDOW_HOURS": "6", "UNIFY_AS_OF_AT": now})
                [(with_target,)] = query(settings, "select sum(due_orders_with_target) "
                                                   "from analytics_reporting.rpt_operations_health_daily")
                after_frequent.append({"files": len(due), "finance_tables": _finance_tables(settings),
                                       "due_orders_with_target": with_target})
            assert not pending
            built = type(main_job)(settings, landing, target, 0.0)
            # every other compared relation as the last frequent cycle left it (the nightly should change none)
            after_frequent[-1]["relations"] = {table: _relation_rows(built, schema, table, order_by)
                                               for schema, table, order_by in COMPARED_RELATIONS
                                               if table not in FINANCE_MONTHLY}
            run_dbt(["build", "--selector", "nightly"], settings, target_path=target, capture=True,
                    env={"UNIFY_TEST_WINDOW_HOURS": "", "UNIFY_AS_OF_AT": f"{as_of:%Y-%m-%d %H:%M:%S}"})
        yield built, after_frequent
    finally:
        drop_database(warehouse, name)


def _finance_tables(settings) -> set[str]:
    rows = query(settings, "select table_name from information_schema.tables where table_schema in "
                           "('analytics_marts', 'analytics_reporting') and table_name = any(%s)", (list(FINANCE_MONTHLY),))
    return {t for (t,) in rows}


def test_the_frequent_cycle_leaves_finance_monthly_models_to_the_nightly(frequent_then_nightly):
    built, cycles = frequent_then_nightly
    assert len(cycles) >= 3 and all(c["files"] for c in cycles), cycles  # every cycle had new files
    # the frequent cycles never built them (the first ran on an empty database and still succeeded)
    assert all(c["finance_tables"] == set() for c in cycles), cycles
    nightly = {r["unique_id"] for r in built.run_results()["results"]}  # the last build's: the nightly's
    assert {f"model.unify.{t}" for t in FINANCE_MONTHLY} <= nightly
    assert _finance_tables(built.settings) == set(FINANCE_MONTHLY)
    # the operations dashboard's monthly OTIF target does not wait for them (it has the same rule)
    assert all(c["due_orders_with_target"] and c["due_orders_with_target"] > 0 for c in cycles), cycles


@pytest.mark.parametrize("schema, table, order_by", COMPARED_RELATIONS, ids=[t for _, t, _ in COMPARED_RELATIONS])
def test_frequent_cycles_and_the_nightly_equal_a_catch_up_build(frequent_then_nightly, catch_up, schema, table,
                                                                 order_by):
    """At the end of the day (after the nightly build), the production cadence's marts are the catch-up's."""
    built, cycles = frequent_then_nightly
    columns, cadence = _relation_rows(built, schema, table, order_by)
    columns_catch_up, caught_up = _relation_rows(catch_up, schema, table, order_by)
    assert columns == columns_catch_up
    assert cadence, f"{table} is empty"
    assert cadence == caught_up
    if table not in FINANCE_MONTHLY:  # the frequent cycle alone had already made it what a full build makes
        assert cycles[-1]["relations"][table] == (columns, cadence)


def test_snapshots_record_what_each_run_saw(main_job, catch_up):
    """Snapshots are the exception by design: daily runs saw more versions than one catch-up run."""
    daily = main_job.query("select count(*) from analytics_snapshots.snap_salesforce__contracts")[0][0]
    once = catch_up.query("select count(*) from analytics_snapshots.snap_salesforce__contracts")[0][0]
    versions = catch_up.query("select count(*) from analytics_marts.dim_contract")[0][0]
    assert once < versions, "one catch-up run records one version per contract"
    assert daily >= once, "daily runs record at least what one run saw"
