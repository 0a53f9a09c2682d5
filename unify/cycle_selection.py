"""What a frequent cycle builds: only what reads raw tables with new data, and what moves with time.

The WMS delivers every few minutes, but mostly orders, their lines and stock (its clients, warehouses and
products change now and then); the TMS once a day; Salesforce when something changes. A frequent cycle
that rebuilt everything downstream of every source would rebuild, every ten minutes, what the reference
tables' last build already holds: the clients' and warehouses' staging, the row-security mapping, the
dimensions and their tests (a third of the WMS's nodes, and the first half of the critical path).
`unify cycle frequent` therefore builds the `frequent` selector (selectors.yml) restricted to the
descendants of the raw tables that have data no successful build of this dbt schema has read:

    newest  = max(load_batches.committed_at) per raw table     read BEFORE the build: what it will see
    marks   = unify_loader.build_marks for this dbt schema     what the last successful builds saw
    build   = frequent, whole      when no mark was recorded (a first cycle), or a raw table with new data
                                    is one the cycle does not know (no source of the project)
              frequent, restricted  otherwise: `--select source:<system>.<table>+` for each raw table whose
                                    newest > its mark (or has no mark), plus ALWAYS (tag as_of: what
                                    moves with "now" even when nothing is new, and the load ledger's
                                    tests), `--exclude` what `frequent` excludes
    after a successful build: marks := newest, for every raw table (one not restricted to had newest ==
                              its mark already); a failed build records nothing

Exact because the loaders stamp batches strictly in commit order (docs/loaders.md): a batch that commits
after `newest` was read carries a later stamp, so the next cycle sees it as new, whether or not this build
read it. A failed build records nothing, so the next cycle builds for everything it did not finish. Marks
are per dbt schema: environments that share raw tables (dev, ci, prod) each keep their own. Reading the
marks must not stop a cycle: if they cannot be read, the cycle builds the whole `frequent` (logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import yaml

from loaders.config import Settings, project_root
from loaders.logs import log_event
from loaders.source_tables import ALL_TABLES

log = logging.getLogger("unify.cycle")

WMS_RAW_SCHEMA = next(t.raw_schema for t in ALL_TABLES if t.system == "azureware")
FULL, WMS_ONLY = "frequent", "frequent_wms"
# The raw schemas a named selector builds everything for (the others: every raw schema).
PARTIAL: dict[str, tuple[str, ...]] = {WMS_ONLY: (WMS_RAW_SCHEMA,)}
# dbt's source for each raw table (sources.yml: source <system>, schema raw_<system>, table <raw table>).
SOURCE_OF: dict[str, str] = {t.qualified_raw_name: f"source:{t.system}.{t.raw_table}" for t in ALL_TABLES}
# Built by every restricted frequent cycle: what moves with "now" (tag as_of: the reporting tables of SLA
# risk and due orders, the completeness tests of late deliveries; and what reads them), and the load
# ledger's tests (a quarantined delivery is reported by the cycle that loaded it).
ALWAYS: tuple[str, ...] = ("tag:as_of+", "source:unify_loader+")


@dataclass(frozen=True)
class Selection:
    selector: str
    reason: str
    newest: dict[str, datetime] = field(default_factory=dict)  # per raw table, read before the build
    # the raw tables whose descendants the build is restricted to; None: the selector's whole build
    restricted_to: tuple[str, ...] | None = None

    def dbt_args(self) -> list[str]:
        """The node selection of `dbt build`."""
        if self.restricted_to is None:
            return ["--selector", self.selector]
        chosen = [f"{SOURCE_OF[raw_table]}+" for raw_table in self.restricted_to]
        return ["--select", *chosen, *ALWAYS, "--exclude", *selector_exclusions(self.selector)]

    def describe(self) -> str:
        """The build, as a command line would say it."""
        return " ".join(self.dbt_args())

    def covered(self) -> dict[str, datetime]:
        """The marks a successful build with this selection may record."""
        covers = PARTIAL.get(self.selector)
        return {t: at for t, at in self.newest.items() if covers is None or t.split(".", 1)[0] in covers}


@lru_cache(maxsize=None)
def selector_exclusions(name: str, path: Path | None = None) -> tuple[str, ...]:
    """What selector `name` of selectors.yml (the dbt project's, unless `path`) excludes from everything
    (`union: [fqn *, exclude: [...]]`), as --exclude arguments; so a restricted cycle leaves out what the
    named build does."""
    path = path or project_root() / "selectors.yml"
    selectors = {s["name"]: s for s in yaml.safe_load(path.read_text(encoding="utf-8"))["selectors"]}
    union = selectors[name]["definition"].get("union", [])
    if {"method": "fqn", "value": "*"} not in union:
        raise ValueError(f"selector {name!r} is not 'everything except ...': a cycle cannot restrict it")
    excluded = [item for part in union if "exclude" in part for item in part["exclude"]]
    if not excluded or any(set(item) != {"method", "value"} for item in excluded):
        raise ValueError(f"selector {name!r}: its exclusions must be plain method/value pairs")
    return tuple(f"{item['method']}:{item['value']}" for item in excluded)


def choose(newest: Mapping[str, datetime], marks: Mapping[str, datetime]) -> Selection:
    """The frequent cycle's build for these newest batches and recorded marks (module docstring)."""
    if not marks:
        return Selection(FULL, "no successful build of this schema recorded yet", dict(newest))
    behind = tuple(sorted(t for t, at in newest.items() if t not in marks or at > marks[t]))
    unknown = [t for t in behind if t not in SOURCE_OF]
    if unknown:
        return Selection(FULL, "new data in a raw table no source reads (" + ", ".join(unknown) + ")",
                         dict(newest))
    reason = ("new data in " + ", ".join(behind)) if behind else "nothing new: what moves with time"
    return Selection(FULL, reason, dict(newest), restricted_to=behind)


def _warehouse(settings: Settings):
    from loaders.load import LoaderConfig, connect_warehouse

    return connect_warehouse(settings, LoaderConfig.from_env())


def select(settings: Settings, selector: str, dbt_schema: str) -> Selection:
    """The selection for a cycle whose named build is `selector` (only `frequent` is ever narrowed)."""
    try:
        newest, marks = _read(settings, dbt_schema)
    except Exception as err:  # noqa: BLE001 - never stop a cycle for an optimisation: build all, record nothing
        log_event(log, "build_marks_unreadable", logging.WARNING, schema=dbt_schema, error=str(err))
        return Selection(selector, f"the build marks could not be read ({type(err).__name__}): the whole build")
    chosen = choose(newest, marks) if selector == FULL else Selection(selector, "the cycle's build", newest)
    try:  # a cycle that cannot read what its selector excludes builds it whole
        if chosen.restricted_to is not None:
            selector_exclusions(chosen.selector)
    except Exception as err:  # noqa: BLE001 - as above
        log_event(log, "build_restriction_failed", logging.WARNING, schema=dbt_schema, error=str(err))
        chosen = Selection(selector, f"the build could not be restricted ({type(err).__name__}): the whole build",
                           newest)
    log_event(log, "cycle_selection", schema=dbt_schema, selector=chosen.selector, reason=chosen.reason,
              restricted_to=list(chosen.restricted_to) if chosen.restricted_to is not None else None)
    return chosen


def _read(settings: Settings, dbt_schema: str) -> tuple[dict[str, datetime], dict[str, datetime]]:
    warehouse = _warehouse(settings)
    try:
        return warehouse.newest_batches(), warehouse.build_marks(dbt_schema)
    finally:
        warehouse.close()


def record(settings: Settings, dbt_schema: str, selection: Selection) -> dict[str, datetime]:
    """After a successful build: record what it was sure to see. Returns the marks recorded; a failure is
    logged (the next frequent cycle then builds more than it needs), never raised."""
    marks = selection.covered()
    if not marks:
        return {}
    try:
        warehouse = _warehouse(settings)
        try:
            warehouse.record_build_marks(dbt_schema, marks)
        finally:
            warehouse.close()
    except Exception as err:  # noqa: BLE001 - see the docstring
        log_event(log, "build_marks_not_recorded", logging.WARNING, schema=dbt_schema, error=str(err))
        return {}
    return marks
