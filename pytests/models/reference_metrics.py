"""OTIF and client profitability computed in plain Python from the LANDED FILES.

Independent of the loaders and of dbt: it walks the landing folder, reads DMS CSV, AppFlow JSON Lines
and TMS CSV with the csv/json modules, resolves CDC itself and applies DOMAIN.md's metric definitions
with Decimal arithmetic. A file that a careful reader would reject (invalid UTF-8, a CSV row whose
field count differs from the header, a JSON line that does not parse) is skipped whole, as a
loader's quarantine would; the sources re-deliver such files intact under a new key.

Only CSV (DMS, TMS) and JSON Lines (AppFlow) are read: the tests simulate with fmt="csv".
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, getcontext
from pathlib import Path

getcontext().prec = 50
CENT = Decimal("0.01")
FAR_PAST = datetime(1900, 1, 1)
FAR_FUTURE = datetime(9999, 12, 31)


class BadFile(Exception):
    """A landed file that a careful reader rejects."""


def _ts(text: str | None) -> datetime | None:
    if text is None or text == "":
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=None)


def _date(text: str | None) -> date | None:
    return None if text in (None, "") else date.fromisoformat(text)


def _dec(text) -> Decimal | None:
    return None if text in (None, "") else Decimal(str(text))


def _read_csv(path: Path, null: str | None) -> list[dict]:
    try:
        text = path.read_bytes().decode("utf-8", errors="strict")
    except UnicodeDecodeError as err:
        raise BadFile(f"{path}: {err}") from None
    if "\x00" in text:
        raise BadFile(f"{path}: NUL byte")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as err:
        raise BadFile(f"{path}: {err}") from None
    if not rows:
        return []
    header = [h.lower() for h in rows[0]]
    if null is None and text and not text.endswith("\n"):  # TMS (empty field = NULL) pins a final line break
        raise BadFile(f"{path}: last record not terminated")
    records = []
    for number, row in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise BadFile(f"{path}: row {number} has {len(row)} fields, header has {len(header)}")
        record = {}
        for name, value in zip(header, row):
            if null is not None and value == null:
                value = None
            elif null is None and value == "":
                value = None
            record[name] = value
        record["_row"] = number
        records.append(record)
    return records


def _read_json_lines(path: Path) -> list[dict]:
    try:
        text = path.read_bytes().decode("utf-8", errors="strict")
    except UnicodeDecodeError as err:
        raise BadFile(f"{path}: {err}") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as err:
            raise BadFile(f"{path}: line {number}: {err}") from None
        if not isinstance(obj, dict):
            raise BadFile(f"{path}: line {number} is not an object")
        record = {k.lower(): v for k, v in obj.items()}
        record["_row"] = number
        records.append(record)
    return records


@dataclass
class Landed:
    """Every record of every readable file, per table, with its file key and row number."""

    tables: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    skipped: list[str] = field(default_factory=list)


def read_landing(root: Path) -> Landed:
    landed = Landed()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        key = path.relative_to(root).as_posix()
        parts = key.split("/")
        try:
            if parts[0] == "dms" and len(parts) >= 5 and key.endswith(".csv"):
                table, records = parts[3], _read_csv(path, null="NULL")
            elif parts[0] == "appflow" and len(parts) >= 5:
                table, records = parts[2].removeprefix("salesforce-"), _read_json_lines(path)
            elif parts[0] == "tms" and len(parts) >= 4 and key.endswith(".csv"):
                table, records = parts[1], _read_csv(path, null=None)
            else:
                continue
        except BadFile as err:
            landed.skipped.append(str(err))
            continue
        for record in records:
            record["_key"] = key
        landed.tables[table.lower()].extend(records)
    return landed


def _latest(records: list[dict], key, order) -> dict:
    """The newest version per key under the source's own ordering."""
    best: dict = {}
    for record in records:
        k = key(record)
        if k not in best or order(record) > order(best[k]):
            best[k] = record
    return best


def _dms_order(r: dict):
    # as cdc_version_order: commit time, then change sequence (a full load at its task's start, with an
    # empty sequence); then, where the model uses the load time, the landed file and record (the simulator
    # never delivers two versions that tie on the source's own ordering)
    return (r.get("dms_commit_ts") or "", r.get("dms_change_seq") or "", r["_key"], r["_row"])


def _sf_order(r: dict):
    return (_ts(r["systemmodstamp"]), r["_key"], r["_row"])


def _tms_order(r: dict):
    return (_ts(r["updated_at"]), r["_key"], r["_row"])


def _read_seed(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass(frozen=True)
class OtifRow:
    due_orders: int
    on_time_orders: int
    in_full_orders: int
    otif_orders: int


@dataclass(frozen=True)
class ProfitRow:
    shipped_orders: int
    units_shipped: int
    handling_fee_revenue_usd: Decimal
    pick_fee_revenue_usd: Decimal
    freight_recharge_revenue_usd: Decimal
    revenue_usd: Decimal
    freight_cost_usd: Decimal
    warehouse_handling_cost_usd: Decimal
    cost_usd: Decimal
    gross_margin_usd: Decimal


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def compute(landing: Path, seeds: Path, as_of: date) -> tuple[dict, dict, Landed]:
    """(otif[(client_id, month)] -> OtifRow, profit[(client_id, ship_month)] -> ProfitRow, landed)."""
    landed = read_landing(landing)
    t = landed.tables
    orders = {k: r for k, r in _latest(t["orders"], lambda r: int(r["orderid"]), _dms_order).items()
              if r["op"] != "D"}
    lines = [r for r in _latest(t["orderlines"], lambda r: int(r["orderlineid"]), _dms_order).values()
             if r["op"] != "D"]
    clients = {k: r for k, r in _latest(t["clients"], lambda r: int(r["clientid"]), _dms_order).items()}
    shipments = list(_latest(t["shipments"], lambda r: r["shipment_id"], _tms_order).values())  # TMS ids: strings
    accounts = _latest(t["account"], lambda r: r["id"], _sf_order)
    contracts_latest = _latest(t["contract"], lambda r: r["id"], _sf_order)
    # one version per (Id, LastModifiedDate): the newest delivery of it
    contract_versions = _latest(t["contract"], lambda r: (r["id"], _ts(r["lastmodifieddate"])), _sf_order)

    lines_by_order: dict[int, list[dict]] = defaultdict(list)
    for line in lines:
        lines_by_order[int(line["orderid"])].append(line)
    order_by_number = {r["ordernumber"]: oid for oid, r in orders.items()}
    shipments_by_order: dict[int, list[dict]] = defaultdict(list)
    for s in shipments:
        oid = order_by_number.get(s["order_number"])
        if oid is not None:  # a shipment whose order has not arrived counts nowhere
            shipments_by_order[oid].append(s)

    # --- OTIF by client and month of promised delivery date, due orders, cancelled excluded
    otif_counts: dict = defaultdict(lambda: [0, 0, 0, 0])
    for oid, order in orders.items():
        if order["status"] == "CANCELLED":
            continue
        promised = _date(order["promiseddeliverydate"])
        if promised > as_of:
            continue
        ships = shipments_by_order.get(oid, [])
        delivered = None
        if ships and all(_ts(s["delivered_at"]) is not None for s in ships):
            delivered = max(_ts(s["delivered_at"]) for s in ships).date()
        on_time = delivered is not None and delivered <= promised
        in_full = all(int(x["qtyshipped"]) >= int(x["qtyordered"]) for x in lines_by_order.get(oid, []))
        counts = otif_counts[(int(order["clientid"]), promised.replace(day=1))]
        counts[0] += 1
        counts[1] += on_time
        counts[2] += in_full
        counts[3] += on_time and in_full
    otif = {k: OtifRow(*v) for k, v in otif_counts.items()}

    # --- profitability by client and ship month
    rates = {(date.fromisoformat(r["month_start_date"]), r["currency_code"]): Decimal(r["usd_per_unit"])
             for r in _read_seed(seeds / "currency_rates_monthly.csv")}
    # the seed is keyed by WarehouseCode (a business code), the WMS's orders by WarehouseId
    code_costs = {r["warehouse_code"]: (Decimal(r["cost_per_order_usd"]), Decimal(r["cost_per_unit_usd"]))
                  for r in _read_seed(seeds / "warehouse_cost_rates.csv")}
    warehouses = _latest(t["warehouses"], lambda r: int(r["warehouseid"]), _dms_order)
    wh_costs = {wid: code_costs[w["warehousecode"]] for wid, w in warehouses.items()}
    client_of_code = {r["clientcode"]: cid for cid, r in clients.items()}
    account_client = {aid: client_of_code[a["wms_client_code__c"]] for aid, a in accounts.items()
                      if not a["isdeleted"] and a.get("wms_client_code__c") in client_of_code}
    versions_by_contract: dict[str, list[dict]] = defaultdict(list)
    for (cid, _lmd), version in contract_versions.items():
        versions_by_contract[cid].append(version)
    for versions in versions_by_contract.values():
        versions.sort(key=lambda v: _ts(v["lastmodifieddate"]))

    def terms_at(client_id: int, shipped_at: datetime):
        candidates = []
        for cid, versions in versions_by_contract.items():
            if contracts_latest[cid]["isdeleted"]:
                continue
            in_force = versions[0]  # the earliest known version applies before it
            for v in versions:
                if _ts(v["lastmodifieddate"]) <= shipped_at:
                    in_force = v
            if in_force["isdeleted"] or in_force["status"] != "Activated":
                continue
            if account_client.get(in_force["accountid"]) != client_id:
                continue
            start = _date(in_force["startdate"]) or date(1900, 1, 1)
            end = _date(in_force["enddate"]) or date(9999, 12, 31)
            if start <= shipped_at.date() <= end:
                candidates.append((start, cid, in_force))
        return max(candidates, key=lambda c: (c[0], c[1]))[2] if candidates else None

    sums: dict = defaultdict(lambda: [0, 0] + [Decimal(0)] * 5)
    for oid, order in orders.items():
        shipped_at = _ts(order["shippedat"])
        if shipped_at is None or order["status"] == "CANCELLED":
            continue
        client_id = int(order["clientid"])
        month = shipped_at.date().replace(day=1)
        units = sum(int(x["qtyshipped"]) for x in lines_by_order.get(oid, []))
        freight = sum((Decimal(s["freight_cost"] or 0) * rates[(month, s["currency"])]
                       for s in shipments_by_order.get(oid, [])), Decimal(0))
        terms = terms_at(client_id, shipped_at)
        if terms is None:
            handling = pick = Decimal(0)
            markup = Decimal(0)
        else:
            fx = rates[(month, terms["currencyisocode"])]
            handling = _dec(terms["handling_fee_per_order__c"] or 0) * fx
            pick = _dec(terms["pick_fee_per_unit__c"] or 0) * units * fx
            markup = _dec(terms["freight_markup_pct__c"] or 0)
        per_order, per_unit = wh_costs[int(order["warehouseid"])]
        s = sums[(client_id, month)]
        s[0] += 1
        s[1] += units
        s[2] += handling
        s[3] += pick
        s[4] += freight * (1 + markup / 100)
        s[5] += freight
        s[6] += per_order + per_unit * units
    profit = {}
    for k, (n, units, handling, pick, recharge, freight, wh_cost) in sums.items():
        revenue = handling + pick + recharge
        cost = freight + wh_cost
        profit[k] = ProfitRow(n, units, _cents(handling), _cents(pick), _cents(recharge), _cents(revenue),
                              _cents(freight), _cents(wh_cost), _cents(cost), _cents(revenue - cost))
    return otif, profit, landed
