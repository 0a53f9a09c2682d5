"""Post-cycle steps the cycle tests register in unify.cycle.POST_CYCLE_STEPS ("ops_hooks:<function>"),
and what every cycle of these tests pins (conftest.py's scenario, test_privileged_cycle.py)."""

from __future__ import annotations

from support import query

AS_OF_AT = "2026-11-01 00:00:00"
PINNED = {"UNIFY_AS_OF_AT": AS_OF_AT, "UNIFY_INCREMENTAL_LOOKBACK_MINUTES": "0", "UNIFY_SCHEMA": "analytics"}


def recording_step(context) -> dict:
    """Reads what the build just wrote, as a SPICE refresh would: the step sees the cycle's context."""
    [(orders,)] = query(context.settings, f"select count(*) from {context.schema}_marts.fct_orders")
    return {"cycle": context.cycle, "schema": context.schema, "build_succeeded": context.build_succeeded,
            "manifest_exists": (context.build_target_path / "manifest.json").exists(), "fct_orders_rows": orders}


def failing_step(context) -> dict:
    raise RuntimeError("SPICE ingestion refused (test)")
