"""Which named build a frequent cycle runs: nothing is built for a source that has nothing new.

The WMS delivers every few minutes; the TMS once a day; Salesforce when something changes. Most frequent
cycles therefore have new data from the WMS alone, and the nodes that read only the other sources (their
staging models, snapshots and tests, the seeds: a third of the frequent build's nodes) would rebuild what
they already hold. `unify cycle frequent` builds `frequent_wms` (selectors.yml) then, and `frequent` when
another source has data that no successful build of this dbt schema has read:

    newest  = max(load_batches.committed_at) per raw schema     read BEFORE the build: what it will see
    marks   = unify_loader.build_marks for this dbt schema     what the last successful builds saw
    selector = frequent      when a raw schema other than the WMS's has newest > its mark (or no mark:
                              a first cycle, a new source, marks never recorded)
               frequent_wms  otherwise (also when nothing is new: the "now"-dependent reports still move)
    after a successful build: marks := newest, for the raw schemas the selector covers (frequent and
                              nightly: all; frequent_wms: the WMS's)

Exact because the loaders stamp batches strictly in commit order (docs/loaders.md): a batch that commits
after `newest` was read carries a later stamp, so the next cycle sees it as new, whether or not this build
read it. A failed build records nothing, so the next cycle builds for everything it did not finish. Marks
are per dbt schema: environments that share raw tables (dev, ci, prod) each keep their own. Reading the
marks must not stop a cycle: if they cannot be read, the cycle builds `frequent` (logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

from loaders.config import Settings
from loaders.logs import log_event
from loaders.source_tables import ALL_TABLES

log = logging.getLogger("unify.cycle")

WMS_RAW_SCHEMA = next(t.raw_schema for t in ALL_TABLES if t.system == "azureware")
FULL, WMS_ONLY = "frequent", "frequent_wms"
# The raw schemas a selector builds everything for (the others: every raw schema).
PARTIAL: dict[str, tuple[str, ...]] = {WMS_ONLY: (WMS_RAW_SCHEMA,)}


@dataclass(frozen=True)
class Selection:
    selector: str
    reason: str
    newest: dict[str, datetime] = field(default_factory=dict)  # per raw schema, read before the build

    def covered(self) -> dict[str, datetime]:
        """The marks a successful build with this selector may record."""
        covers = PARTIAL.get(self.selector)
        return {s: at for s, at in self.newest.items() if covers is None or s in covers}


def choose(newest: Mapping[str, datetime], marks: Mapping[str, datetime]) -> Selection:
    """The frequent cycle's selector for these newest batches and recorded marks (module docstring)."""
    if not marks:
        return Selection(FULL, "no successful build of this schema recorded yet", dict(newest))
    behind = sorted(s for s, at in newest.items() if s != WMS_RAW_SCHEMA and (s not in marks or at > marks[s]))
    if behind:
        return Selection(FULL, "new data in " + ", ".join(behind), dict(newest))
    return Selection(WMS_ONLY, "no source but the WMS has data no successful build has read", dict(newest))


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
    log_event(log, "cycle_selection", schema=dbt_schema, selector=chosen.selector, reason=chosen.reason)
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
