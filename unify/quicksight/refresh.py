"""The SPICE refresh after a load cycle (a post-cycle step of `unify cycle`), within QuickSight's quota.

QuickSight lets a data set be refreshed through the API (CreateIngestion) 32 times in any 24 hours on
the Enterprise edition (8 on Standard). The frequent cycle runs 144 times a day: refreshing after every
one would use the quota up in under six hours, and every later refresh, so every later cycle, would fail.
So the day is cut into slots of 24 h / UNIFY_QUICKSIGHT_REFRESHES_PER_DAY (default 24: one hour) and each
ingestion's id names its slot (`unify-cycle-20261206T0900`). The first cycle that succeeds in a slot starts
the ingestion of every data set; QuickSight refuses an id a data set already has (ResourceExistsException),
so the later cycles of the slot find it started and leave it. Any 24 hours touch at most refreshes-per-day
+ 1 slots (25 by default): the rest of the quota is left for a refresh by hand. No state is kept anywhere
but in QuickSight. A dashboard is therefore at most a slot plus a cycle behind the marts (NFR-1's 15
minutes are the marts'; docs/dashboards.md).

Where QuickSight is not configured (no account id: UNIFY_QUICKSIGHT_ACCOUNT_ID, which the stack sets where
QuickSight is deployed, or the spec's quicksight.account_id) the step is skipped with that reason.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

QUOTA_PER_DAY = 32                     # CreateIngestion per data set per trailing 24 hours (Enterprise)
REFRESHES_ENV = "UNIFY_QUICKSIGHT_REFRESHES_PER_DAY"
DEFAULT_REFRESHES_PER_DAY = 24


class RefreshConfigError(ValueError):
    """UNIFY_QUICKSIGHT_REFRESHES_PER_DAY is not a number of refreshes the quota allows."""


@dataclass(frozen=True)
class RefreshSlot:
    start: datetime
    minutes: int

    @property
    def ingestion_id(self) -> str:
        return f"unify-cycle-{self.start:%Y%m%dT%H%M}"


def refreshes_per_day(env: dict[str, str] | None = None) -> int:
    """How many slots a day has: at most 31, so that any 24 hours (which touch one slot more) stay within 32."""
    text = (os.environ if env is None else env).get(REFRESHES_ENV) or str(DEFAULT_REFRESHES_PER_DAY)
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value < QUOTA_PER_DAY:
        raise RefreshConfigError(f"{REFRESHES_ENV} must be a whole number from 1 to {QUOTA_PER_DAY - 1} (QuickSight "
                                 f"allows {QUOTA_PER_DAY} refreshes of a data set in any 24 hours), not {text!r}")
    return value


def refresh_slot(now: datetime, per_day: int) -> RefreshSlot:
    """The slot `now` (UTC) falls in: slots of ceil(1440 / per_day) minutes from midnight UTC."""
    minutes = math.ceil(24 * 60 / per_day)
    midnight = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = int((now.astimezone(timezone.utc) - midnight).total_seconds() // 60)
    return RefreshSlot(midnight + timedelta(minutes=elapsed // minutes * minutes), minutes)


def quicksight_account(env: dict[str, str] | None = None) -> str:
    """The configured QuickSight account ('' where QuickSight is not configured)."""
    from unify.dashboards.spec import load_spec, quicksight_setting

    return str(quicksight_setting(load_spec(), "account_id", env) or "")


def cycle_refresh_step(context) -> dict:
    """After a cycle (unify.cycle.POST_CYCLE_STEPS, after the access step): start this slot's ingestion of
    every data set, unless another cycle already did. Raises on any other QuickSight error."""
    from unify.cycle import PostCycleSkipped
    from unify.quicksight.deploy import client_for, refresh_data_sets
    from unify.quicksight.resources import load_config

    account = quicksight_account()
    if not account:
        raise PostCycleSkipped("QuickSight is not configured here: no account id (UNIFY_QUICKSIGHT_ACCOUNT_ID, set "
                               "by the stack where QuickSight is deployed)")
    slot = refresh_slot(datetime.now(timezone.utc), refreshes_per_day())
    config = load_config(account)
    results = refresh_data_sets(config, client_for(config), ingestion_id=slot.ingestion_id)
    started = sorted(data_set for data_set, _id, status in results if status != "EXISTS")
    return {"ingestion_id": slot.ingestion_id, "slot_minutes": slot.minutes, "region": config.region,
            "started": started, "already_started": sorted(d for d, _id, status in results if status == "EXISTS")}
