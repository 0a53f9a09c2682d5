"""The hand-written landing zone without its TMS files: `dbt build` must fail on the completeness tests,
not pass with OTIF at 0% and no freight (what it did before: issue #13)."""

from __future__ import annotations

from feeds_support import landing_copy, load_and_build

COMPLETENESS = {
    # 7 shipped orders on 11-03 and 11-04 (both judged: at least 3 days before 11-10), none has a shipment
    "assert_shipped_orders_reach_the_tms": 2,
    # 11-03 and 11-04 have shipped orders and no TMS shipment at all
    "assert_every_shipping_day_has_tms_shipments": 2,
    # client 501: 5 due orders, 0 delivered; client 502: 3 due, 0 delivered (minimum 3 due)
    "assert_otif_denominators_have_deliveries": 2,
}


def test_without_tms_files_dbt_build_fails_on_the_completeness_tests(fresh_database, tmp_path):
    built = load_and_build(fresh_database, landing_copy(tmp_path / "landing", without=("tms",)),
                           tmp_path / "target")
    assert built.load_exit == 0, built.load_stdout[-3000:]
    assert built.build_exit != 0, "dbt build passed without any TMS data"
    results = built.results()
    failed = {name: r["failures"] for name, r in results.items() if r["status"] == "fail"}
    assert failed == COMPLETENESS, failed
    # without the tests the marts would have said: every due order undelivered, OTIF 0%, no freight
    assert built.query("select count(*), sum(case when is_otif then 1 else 0 end) from analytics_marts.fct_orders "
                       "where not is_cancelled and promised_delivery_date <= date '2026-11-10'") == [(8, 0)]
