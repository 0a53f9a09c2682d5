"""Figures for the main job's closing summary, read from the reporting models dbt built.

`otif_by_client_last_month(settings)` answers "OTIF by client for the last complete month": per
client, the orders due in the month before the as-of date of the last build (promised delivery date
in that month, cancelled orders excluded), how many were on time and in full, OTIF % and the
contract's OTIF target. It reads `rpt_client_profitability_monthly`, the model the Client
Profitability dashboard reads (analyses/client_profitability__otif_by_client_last_month.sql is the
same query for dbt users), so the summary and the dashboard can never disagree.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from loaders.config import Settings
from unify.dbt_runner import dbt_schema

REPORTING_SCHEMA_SUFFIX = "_reporting"


class SummaryError(Exception):
    """The summary cannot be read (e.g. the reporting model has not been built); names the relation."""


def reporting_schema(env: dict[str, str] | None = None) -> str:
    """dbt's reporting schema: <target schema>_reporting (profiles.yml reads UNIFY_SCHEMA, default analytics)."""
    return dbt_schema(env) + REPORTING_SCHEMA_SUFFIX


OTIF_LAST_MONTH_SQL = """
select
    client_id,
    client_code,
    client_name,
    month_start_date,
    due_orders,
    otif_orders,
    otif_pct,
    otif_target_pct
from {relation}
where month_start_date = cast(date_trunc('month', as_of_date) - interval '1 month' as date)
order by client_code, client_id
"""


def otif_by_client_last_month(settings: Settings, schema: str | None = None) -> list[dict[str, Any]]:
    """One dict per client with orders due in the last complete month (see the module docstring).

    Keys: client_id, client_code, client_name, month (date), due_orders, otif_orders,
    otif_pct (Decimal or None when nothing was due), otif_target_pct (Decimal or None).
    """
    import psycopg2
    from psycopg2 import sql

    schema = schema or reporting_schema()
    relation = sql.Identifier(schema, "rpt_client_profitability_monthly")
    query = sql.SQL(OTIF_LAST_MONTH_SQL).format(relation=relation)
    try:
        conn = psycopg2.connect(settings.dsn())
    except psycopg2.Error as err:
        raise SummaryError(f"cannot connect to {settings.url()}: {err}") from err
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            rows = cur.fetchall()
    except psycopg2.errors.UndefinedTable as err:
        raise SummaryError(
            f"{schema}.rpt_client_profitability_monthly does not exist in {settings.url()}: run `dbt build` first"
        ) from err
    finally:
        conn.close()
    result = []
    for client_id, code, name, month, due, otif, pct, target in rows:
        if not due:
            continue
        result.append(
            {
                "client_id": client_id,
                "client_code": code,
                "client_name": name,
                "month": month,
                "due_orders": due,
                "otif_orders": otif,
                "otif_pct": Decimal(pct) if pct is not None else None,
                "otif_target_pct": Decimal(target) if target is not None else None,
            }
        )
    return result


def format_otif_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Human-readable lines for the summary, e.g. `ACME  2026-10  OTIF 93.10% of 420 due (target 95.00%)`."""
    lines = []
    for row in rows:
        target = f" (target {row['otif_target_pct']}%)" if row["otif_target_pct"] is not None else ""
        pct = f"{row['otif_pct']}%" if row["otif_pct"] is not None else "n/a"
        lines.append(
            f"{row['client_code']:<12} {row['month']:%Y-%m}  OTIF {pct:>7} of {row['due_orders']} due{target}"
        )
    return lines
