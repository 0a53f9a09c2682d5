"""Figures for the main job's closing summary, read with the project's own analyses.

`otif_by_client_last_month(settings, target_path)` answers "OTIF by client for the last complete month"
by running analyses/client_profitability__otif_by_client_last_month.sql exactly as dbt compiled it, so
the summary, a dbt user running that analysis and the Client Profitability dashboard (both read
`rpt_client_profitability_monthly`) cannot disagree: there is one query, not a copy of it here.

The compiled SQL comes from the manifest in the target folder when the last dbt command there compiled
the analysis for this database (`dbt docs generate`, which the main job ends with, compiles every
analysis); otherwise `dbt compile -s <analysis>` compiles it first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loaders.config import Settings
from unify.dbt_runner import run_dbt_logged

OTIF_ANALYSIS = "client_profitability__otif_by_client_last_month"


class SummaryError(Exception):
    """The summary cannot be read (e.g. the reporting model has not been built); names the relation."""


def _compiled_from_manifest(target_path: Path, unique_id: str, database: str) -> str | None:
    try:
        node = json.loads((target_path / "manifest.json").read_text())["nodes"][unique_id]
    except (OSError, ValueError, KeyError):
        return None
    if node.get("database") != database:  # compiled against another warehouse database
        return None
    return node.get("compiled_code") or None


def compiled_analysis(settings: Settings, target_path: Path, name: str) -> str:
    """The analysis' SQL as dbt compiles it for the settings' database (refs resolved, macros expanded)."""
    unique_id = f"analysis.unify.{name}"
    sql = _compiled_from_manifest(target_path, unique_id, settings.pg_database)
    if sql is None:
        run_dbt_logged(["compile", "-s", name], settings, target_path=target_path)  # a failure raises DbtError
        sql = _compiled_from_manifest(target_path, unique_id, settings.pg_database)
    if sql is None:
        raise SummaryError(f"dbt compiled no SQL for {unique_id} into {target_path / 'manifest.json'}")
    return sql


def otif_by_client_last_month(settings: Settings, target_path: Path) -> list[dict[str, Any]]:
    """The analysis' rows (one dict per client, keyed by its output columns: client_code, client_name,
    month_start_date, due_orders, otif_orders, otif_pct, otif_target_pct), for the clients that had
    orders due that month (the analysis also lists the others, with nothing to measure)."""
    import psycopg2

    sql = compiled_analysis(settings, target_path, OTIF_ANALYSIS)
    try:
        conn = psycopg2.connect(settings.dsn())
    except psycopg2.Error as err:
        raise SummaryError(f"cannot connect to {settings.url()}: {err}") from err
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            columns = [c.name for c in cur.description]
            rows = [dict(zip(columns, row)) for row in cur.fetchall()]
    except psycopg2.errors.UndefinedTable as err:
        raise SummaryError(f"analyses/{OTIF_ANALYSIS}.sql reads a relation that does not exist in "
                           f"{settings.url()}: run `dbt build` first ({err.pgerror.strip()})") from err
    finally:
        conn.close()
    return [row for row in rows if row["due_orders"]]


def format_otif_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Human-readable lines for the summary, e.g. `ACME  2026-10  OTIF 93.10% of 420 due (target 95.00%)`."""
    lines = []
    for row in rows:
        target = f" (target {row['otif_target_pct']}%)" if row["otif_target_pct"] is not None else ""
        pct = f"{row['otif_pct']}%" if row["otif_pct"] is not None else "n/a"
        lines.append(
            f"{row['client_code']:<12} {row['month_start_date']:%Y-%m}  OTIF {pct:>7} of {row['due_orders']} due{target}"
        )
    return lines
