"""A shipped order whose lines never arrived is neither in full nor OTIF, and the build says so.

The WMS writes an order's lines with it, so a shipped order without any line is a lost or quarantined
delivery of OrderLines. Counted as "in full" (no short line among none), it raised its client's OTIF
while every check passed. In a copy of the hand-written landing zone, order 70102's line (shipped in full
on 11-03) is left out of the DMS OrderLines files: fct_orders says 70102 is not in full and not OTIF, and
shipped_orders_have_lines fails with that one order.
"""

from __future__ import annotations

import feeds_support
from feeds_support import landing_copy, load_and_build


def test_a_shipped_order_without_lines_is_not_in_full_and_fails_the_build(fresh_database, tmp_path, monkeypatch):
    landing = landing_copy(tmp_path / "landing")
    for path in (landing / "dms/azureware/dbo/OrderLines").glob("*.parquet"):
        path.unlink()
    monkeypatch.setattr(feeds_support, "ORDER_LINES", [r for r in feeds_support.ORDER_LINES if r[4] != 70102])
    feeds_support.write_order_lines_parquet(landing)

    built = load_and_build(fresh_database, landing, tmp_path / "target")
    assert built.load_exit == 0, built.load_stdout[-3000:]
    assert built.build_exit != 0
    results = built.results()
    assert results["shipped_orders_have_lines"]["status"] == "fail"
    assert results["shipped_orders_have_lines"]["failures"] == 1
    assert built.query("select line_count, is_in_full, is_otif from analytics_marts.fct_orders "
                       "where order_id = 70102") == [(0, False, False)]
