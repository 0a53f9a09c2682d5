"""Salesforce changes during the day, and AppFlow's daily executions that deliver them to S3.

Flows `salesforce-account`, `salesforce-user`, `salesforce-contract` run daily at about 23:00 UTC.
The first execution of each flow is a full pull (every record, deleted ones included); later ones
deliver records whose SystemModstamp moved since the previous successful execution. An execution
that finds nothing writes no file. Keys: appflow/salesforce/<flow>/<execution-id>/<part files>;
part names carry the execution time (with ':') and no extension.
"""

from __future__ import annotations

import random
from datetime import date

from unify.simulate.encode import (US_PER_HOUR, US_PER_MINUTE, US_PER_SECOND, AppFlowEncoder, table_columns,
                                     ts_salesforce)
from unify.simulate.names import uuid_text
from unify.simulate.state import E_APPFLOW, E_SALESFORCE, World
from unify.simulate.world import add_prospect
from loaders.source_tables import get_table

FLOWS = (("salesforce-account", "Account"), ("salesforce-user", "User"), ("salesforce-contract", "Contract"))
ENCODERS = {obj: AppFlowEncoder(table_columns(get_table("salesforce", obj))) for _, obj in FLOWS}
# Field positions (source_tables order): 0 Id, 1 IsDeleted, 2 CreatedDate, 3 LastModifiedDate, 4 SystemModstamp
ACCOUNT_OWNER, ACCOUNT_TYPE, ACCOUNT_TIER = 9, 6, 11
USER_TITLE, USER_IS_ACTIVE = 8, 10
CONTRACT_STATUS, CONTRACT_RATES = 7, (10, 11, 12)
TITLES = ("Account Manager", "Senior Account Manager")


def _second(us: int) -> int:
    return us - us % US_PER_SECOND


def schedule_day(world: World, rng: random.Random, faults, day_start: int, day: date, day_index: int) -> None:
    """Draw the day's Salesforce changes and schedule the day's AppFlow executions."""
    sf = world.salesforce

    def at(lo_hour: float, hi_hour: float) -> int:
        return _second(day_start + int(rng.uniform(lo_hour, hi_hour) * US_PER_HOUR))

    active = [cid for cid, r in sf["Contract"].items() if r[CONTRACT_STATUS] == "Activated" and not r[1]]
    for cid in active:  # rate reviews: often on the 1st of a month, sometimes mid-month
        if rng.random() < (0.3 if day.day == 1 else 0.04):
            world.schedule(at(7, 19), E_SALESFORCE, "rates", cid)
    if day_index % 3 == 1 and active:
        world.schedule(at(9, 17), E_SALESFORCE, "rates", rng.choice(active))
    customers = [aid for aid, r in sf["Account"].items() if r[ACCOUNT_TYPE] == "Customer" and not r[1]]
    for aid in customers:
        if rng.random() < 0.01:
            world.schedule(at(8, 18), E_SALESFORCE, "tier", aid)
        if rng.random() < 0.003:
            world.schedule(at(8, 18), E_SALESFORCE, "owner", aid)
    if rng.random() < 0.08:
        world.schedule(at(8, 18), E_SALESFORCE, "title", rng.choice(list(sf["User"])))
    if rng.random() < 0.15:
        world.schedule(at(8, 18), E_SALESFORCE, "prospect", "")
    if rng.random() < 0.2:  # a system process touches a record: SystemModstamp moves, LastModifiedDate does not
        obj = rng.choice(("Account", "Contract"))
        world.schedule(at(0, 22), E_SALESFORCE, "bump", f"{obj}:{rng.choice(list(sf[obj]))}")
    if world.params.has("deletes"):
        world.schedule(_second(day_start + int(faults.rng.uniform(9, 17) * US_PER_HOUR)), E_SALESFORCE,
                       "delete", "Contract" if day_index % 2 == 0 else "Account")
    for index in range(len(FLOWS)):
        world.schedule(day_start + 23 * US_PER_HOUR + index * 2 * US_PER_MINUTE
                       + rng.randrange(0, 50) * US_PER_SECOND, E_APPFLOW, index)


def change(world: World, rng: random.Random, t: int, action: str, ref: str) -> None:
    sf = world.salesforce
    if action == "rates":
        row = sf["Contract"][ref]
        fee, pick, markup = CONTRACT_RATES
        row[fee] = int(row[fee] * rng.uniform(0.97, 1.08))
        row[pick] = int(row[pick] * rng.uniform(0.96, 1.08))
        row[markup] = max(0, row[markup] + rng.randint(-150, 250))
        _touch(row, t)
        world.count("contract_rate_changes")
    elif action == "tier":
        row = sf["Account"][ref]
        row[ACCOUNT_TIER] = rng.choice([t_ for t_ in ("Gold", "Silver", "Bronze") if t_ != row[ACCOUNT_TIER]])
        _touch(row, t)
    elif action == "owner":
        row = sf["Account"][ref]
        managers = [uid for uid, u in sf["User"].items() if u[USER_TITLE] in TITLES and uid != row[ACCOUNT_OWNER]]
        row[ACCOUNT_OWNER] = rng.choice(managers)
        _touch(row, t)
    elif action == "title":
        row = sf["User"][ref]
        if row[USER_TITLE] == "Account Manager":
            row[USER_TITLE] = "Senior Account Manager"
        _touch(row, t)  # other users edit fields the flow does not map: same values, new timestamps
    elif action == "prospect":
        add_prospect(world, rng, t, t, t)
    elif action == "bump":
        obj, _, rid = ref.partition(":")
        sf[obj][rid][4] = t
    elif action == "delete":
        _delete_one(world, t, ref)


def _touch(row: list, t: int) -> None:
    row[3] = row[4] = t


def _delete_one(world: World, t: int, prefer: str) -> None:
    """deletes fault: a Draft contract or a prospect account goes to the recycle bin."""
    sf = world.salesforce
    drafts = [r for r in sf["Contract"].values() if r[CONTRACT_STATUS] == "Draft" and not r[1]]
    prospects = [r for r in sf["Account"].values() if r[ACCOUNT_TYPE] == "Prospect" and not r[1]]
    choices = (drafts, prospects) if prefer == "Contract" else (prospects, drafts)
    for rows in choices:
        if rows:
            rows[0][1] = True
            _touch(rows[0], t)
            world.count("salesforce_deleted")
            return


def run_execution(world: World, rng: random.Random, faults, t: int, index: int, out, fmt: str) -> None:
    """One AppFlow execution of flow `index` at time t."""
    flow, obj = FLOWS[index]
    t = _second(t)
    last = world.appflow_last.get(flow)
    rows = [r for r in world.salesforce[obj].values() if r[4] <= t and (last is None or r[4] > last)]
    execution_id = uuid_text(rng)
    if not rows:
        world.appflow_last[flow] = t
        return
    rows.sort(key=lambda r: (r[4], r[0]))
    encoder = ENCODERS[obj]
    if faults.forced.pop("malformed_json", False):  # the day's first execution with records fails
        _write_execution(out, flow, obj, encoder, uuid_text(faults.rng), t, rows, fmt, world, broken=True)
        t += US_PER_MINUTE  # AppFlow's retry
    _write_execution(out, flow, obj, encoder, execution_id, t, rows, fmt, world, broken=False)
    world.appflow_last[flow] = t
    world.count(f"appflow_{obj.lower()}_records", len(rows))


def _write_execution(out, flow: str, obj: str, encoder: AppFlowEncoder, execution_id: str, t: int,
                     rows: list, fmt: str, world: World, broken: bool) -> None:
    size = world.params.band.appflow_part_records
    stamp = ts_salesforce(t)[:19]
    for part, first in enumerate(range(0, len(rows), size)):
        chunk = rows[first:first + size]
        key = f"appflow/salesforce/{flow}/{execution_id}/{execution_id[:8]}-{stamp}-part-{part:04d}"
        if fmt == "parquet":
            data = encoder.parquet(chunk)
            if broken:
                data = data[: len(data) // 2]  # the failed execution left a part cut short
        else:
            data = encoder.json_lines(chunk)
            if broken:
                lines = data.decode("utf-8").split("\n")
                lines[len(chunk) // 2] = lines[len(chunk) // 2][: len(lines[len(chunk) // 2]) // 2]
                data = "\n".join(lines).encode("utf-8")
        out.write(key, data, None if broken else obj, 0 if broken else len(chunk))
        if broken:
            return  # the failure happened while writing the first part
