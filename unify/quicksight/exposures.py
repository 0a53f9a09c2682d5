"""The dbt exposures of the two dashboards, from the same spec and configuration as QuickSight.

Each dashboard's exposure lists exactly the reporting tables its QuickSight data sets read (and the
rules data set attached to them) and its console URL (quicksight.console_url with the region and the
dashboard id). `write_exposures` writes the files the spec names; `check_exposures` says which differ
(a test keeps them in step).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from unify.dashboards.spec import Dashboard
from unify.quicksight.resources import Config

HEADER = ("# Generated from unify/dashboards/spec.yml by `unify quicksight exposures --write`: edit the spec,\n"
          "# not this file. What QuickSight reads for this dashboard (reporting only) and where it is.\n")


def exposure_text(config: Config, dashboard: Dashboard) -> str:
    spec = config.spec
    tables = dashboard.datasets()
    if any(spec.datasets[t].client_scoped for t in tables):
        tables.append(spec.rules_dataset().table)
    description = textwrap.fill(
        f"QuickSight dashboard ({config.dashboard_id(dashboard)}). {dashboard.description} Its visuals' queries: "
        f"analyses/{dashboard.prefix}__*.sql. Client-scoped data sets carry QuickSight's row-level security "
        "(the rules data set, on client_key).", width=100, initial_indent="      ", subsequent_indent="      ",
        break_on_hyphens=False)
    depends = "".join(f"      - ref('{t}')\n" for t in tables)
    return (f"{HEADER}version: 2\n\nexposures:\n  - name: {dashboard.exposure}\n    label: {dashboard.name}\n"
            f"    type: dashboard\n    maturity: high\n    url: {config.dashboard_url(dashboard)}\n"
            f"    description: >\n{description}\n    owner:\n      name: {dashboard.owner_name}\n"
            f"      email: {dashboard.owner_email}\n    depends_on:\n{depends}")


def expected_exposures(config: Config, root: Path) -> dict[Path, str]:
    return {root / d.exposure_file: exposure_text(config, d) for d in config.spec.dashboards}


def check_exposures(config: Config, root: Path) -> list[str]:
    return [f"{path} differs from the spec (`unify quicksight exposures --write`)"
            for path, text in expected_exposures(config, root).items()
            if not path.is_file() or path.read_text() != text]


def write_exposures(config: Config, root: Path) -> list[Path]:
    written = []
    for path, text in expected_exposures(config, root).items():
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written
