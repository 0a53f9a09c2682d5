"""A correction delivered under the same object key wins in staging and in the marts.

The TMS re-runs its extract of 2026-11-04 and writes it again under the same key with one corrected
value: shipment SHP-000105's freight is 4.40 GBP, not 4.00, with the same updated_at (the TMS's own
ordering ties). The loader loads the changed bytes as a new delivery (a later `_loaded_at`); staging
must take the later delivery although the corrected row now sits first in the file (it was the third):
ranking by object key and row alone kept the stale 4.00. The second build is incremental, as a daily
cycle runs it.
"""

from __future__ import annotations

from decimal import Decimal

from feeds_support import DBT_ENV, landing_copy, load_and_build, unify_load
from unify.dbt_runner import run_dbt

KEY = "tms/shipments/dt=2026-11-04/shipments-20261104.csv"


def test_a_corrected_extract_under_the_same_key_wins(fresh_database, tmp_path):
    settings, target = fresh_database, tmp_path / "target"
    built = load_and_build(settings, landing_copy(tmp_path / "landing"), target)
    assert built.build_exit == 0, built.build_stdout[-3000:]
    freight = "select freight_cost from analytics_staging.stg_tms__shipments where shipment_id = 'SHP-000105'"
    assert built.query(freight) == [(Decimal("4.00"),)]

    extract = built.landing / KEY
    lines = extract.read_bytes().split(b"\r\n")
    stale = next(line for line in lines if line.startswith(b"2026-11-04T12:00:00Z,IN_TRANSIT,,SHP-000105,"))
    corrected = stale.replace(b",0.400,4.00,GBP", b",0.400,4.40,GBP")
    others = [line for line in lines[1:] if line and line != stale]
    extract.write_bytes(b"\r\n".join([lines[0], corrected, *others]) + b"\r\n")

    reload = unify_load(settings, built.landing)
    assert reload.returncode == 0, reload.stdout + reload.stderr
    assert built.query("select status, count(*) from unify_loader.load_ledger where object_key = %s "
                       "group by status", (KEY,)) == [("loaded", 2)]
    run_dbt(["build"], settings, target_path=target, capture=True, env=DBT_ENV)
    assert built.query(freight) == [(Decimal("4.40"),)]
    # Client 501's November, by hand: freight was 35.75 GBP, now 36.15 GBP x 1.250536 = 45.2068764 -> 45.21;
    # SHP-000105's order (70004) was priced with version 2 (markup 12%): recharge was 49.7713328, now
    # + 0.40 x 1.250536 x 1.12 = 0.560240128 -> 50.331572928 -> 50.33; revenue 14.381164 + 6.0025728
    # + 50.331572928 = 70.715309728 -> 70.72; cost 45.2068764 + 14.81 = 60.0168764 -> 60.02
    assert built.query("select freight_cost_usd, freight_recharge_revenue_usd, revenue_usd, cost_usd "
                       "from analytics_marts.fct_client_profitability_monthly where client_id = 501") == \
        [(Decimal("45.21"), Decimal("50.33"), Decimal("70.72"), Decimal("60.02"))]
