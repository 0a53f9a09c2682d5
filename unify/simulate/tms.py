"""The TMS: shipments of shipped orders, carrier tracking events, and the daily CSV extracts.

A shipment's whole journey (pick-up, hubs, possibly an exception, delivery or return) is drawn when
the order ships; its steps then fire in time order. Each day's extract holds the rows created or
changed that day: one row per shipment in its state at the end of the day, every tracking event
recorded that day, and carriers that changed (the first day: all carriers).
"""

from __future__ import annotations

import csv
import io
import random
import tempfile
from datetime import date

from unify.simulate import reference as ref
from unify.simulate.encode import (US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, US_PER_SECOND, TmsEncoder,
                                     table_columns, ts_iso)
from unify.simulate.names import HUBS, tracking_number
from unify.simulate.state import E_REVEAL_SHIPMENT, E_SHIPMENT_STEP, Order, Shipment, World
from loaders.source_tables import get_table

SERVICE_LEVELS = {("PARCEL", "STANDARD"): "STANDARD", ("AIR", "EXPRESS"): "NEXT_DAY", ("ROAD", "STANDARD"): "LTL",
                  ("OCEAN", "STANDARD"): "LCL"}
SHIPMENTS = TmsEncoder(table_columns(get_table("tms", "shipments")))
TRACKING = TmsEncoder(table_columns(get_table("tms", "tracking_events")))
CARRIERS = TmsEncoder(table_columns(get_table("tms", "carriers")))


def tms_key(extract: str, day: date) -> str:
    return f"tms/{extract}/dt={day.isoformat()}/{extract}-{day.strftime('%Y%m%d')}.csv"


def _carrier_for(rng: random.Random, mode: str, country: str) -> ref.Carrier:
    options = [c for c in ref.CARRIERS if c.mode == mode and country in c.countries]
    return rng.choice(options or [c for c in ref.CARRIERS if c.mode == mode])


def _freight_usd(mode: str, kg: float, domestic: bool) -> float:
    if mode == "PARCEL":
        usd = 4.5 + 0.9 * kg
    elif mode == "AIR":
        usd = 18 + 4.0 * kg
    elif mode == "ROAD":
        usd = 55 + 0.12 * kg
    else:
        usd = 250 + 0.05 * kg
    return usd * (1.0 if domestic else 1.7)


def ship_order(world: World, rng: random.Random, faults, t: int, order: Order) -> None:
    """The order left the warehouse at t: book its shipment(s) with a carrier."""
    client = world.clients[order.client_id]
    wh = ref.WAREHOUSE_BY_ID[order.wh_id]
    lines = [line for line in order.lines if line[8] > 0]
    if order.otype == "B2B":
        n = min(len(lines), _pick(rng, ((1, 65), (2, 25), (3, 10))))
    else:
        n = min(len(lines), 2 if rng.random() < 0.05 else 1)
    domestic = order.country == wh.country
    carrier = _carrier_for(rng, order.mode, wh.country)
    service = SERVICE_LEVELS.get((order.mode, order.prio), "EXPRESS" if order.prio == "EXPRESS" else "STANDARD")
    if order.otype == "B2B" and order.mode == "ROAD" and len(lines) > 10:
        service = "FTL"
    for k in range(n):
        group = lines[k::n]
        kg = sum(world.products[line[2]][4] * line[8] for line in group) / 1000 + rng.uniform(0.2, 1.5)
        usd = _freight_usd(order.mode, kg, domestic) * rng.uniform(0.9, 1.15)
        cents = int(round(usd / ref.APPROX_USD_PER_UNIT[wh.currency] * 100))
        sid = world.next_id("shipment")
        eta = (t // US_PER_DAY + order.transit_days) * US_PER_DAY + 21 * US_PER_HOUR  # end of the delivery day
        shipment = Shipment(sid, order.number, wh.code, carrier.carrier_id, service,
                            tracking_number(rng, carrier.number, carrier.scac), t, eta, None, "IN_TRANSIT",
                            int(kg * 1000), cents, wh.currency, t, [], 0, [])
        shipment.steps = _journey(rng, t, order, wh, carrier.on_time_rate - client.carrier_penalty)
        if faults.pick("late_shipments", 0.01):
            shipment.visible_from = t + int(faults.rng.uniform(2, 3) * US_PER_DAY)
            world.schedule(shipment.visible_from, E_REVEAL_SHIPMENT, sid)
        else:
            world.tms_changed[sid] = True
        world.shipments[sid] = shipment
        world.schedule(shipment.steps[0][0], E_SHIPMENT_STEP, sid)
        world.count("shipments")


def _pick(rng: random.Random, pairs) -> int:
    x = rng.random() * sum(w for _, w in pairs)
    for value, w in pairs:
        x -= w
        if x < 0:
            return value
    return pairs[-1][0]


def _journey(rng: random.Random, t: int, order: Order, wh: ref.Warehouse, on_time_rate: float) -> list[tuple]:
    """(time, event code, city, country, new status or None) for each future step."""
    dest_city, dest_country = order.city, order.country
    planned_day = t // US_PER_DAY + order.transit_days
    steps = [[t + int(rng.uniform(10, 90) * US_PER_MINUTE), "PICKED_UP", wh.city, wh.country, None]]
    hubs = HUBS[wh.country]
    last = steps[0][0]
    for day in range(t // US_PER_DAY, planned_day):
        last = max(last, day * US_PER_DAY) + int(rng.uniform(2, 9) * US_PER_HOUR)
        steps.append([last, "IN_TRANSIT", rng.choice(hubs), wh.country, None])
    delay_days = 0 if rng.random() < on_time_rate else rng.randint(1, 3)
    outcome = "DELIVERED"
    if rng.random() < 0.012:  # an exception on the way: address problem, damage, customs
        when = t + int((planned_day * US_PER_DAY - t) * rng.uniform(0.3, 0.9))
        steps.append([when, "EXCEPTION", rng.choice(hubs), wh.country, "EXCEPTION"])
        if rng.random() < 0.25:
            back = when + int(rng.uniform(1, 4) * US_PER_DAY)
            steps.append([back, "IN_TRANSIT", wh.city, wh.country, "RETURNED"])
            outcome = "RETURNED"
        else:
            delay_days = max(delay_days, rng.randint(1, 3))
            steps.append([when + int(rng.uniform(3, 20) * US_PER_HOUR), "IN_TRANSIT", rng.choice(hubs),
                          wh.country, "IN_TRANSIT"])
    if outcome == "DELIVERED":
        delivered = (planned_day + delay_days) * US_PER_DAY + int(rng.uniform(8, 20) * US_PER_HOUR)
        delivered = max(delivered, steps[-1][0] + US_PER_HOUR)
        steps.append([delivered - int(rng.uniform(1, 5) * US_PER_HOUR), "OUT_FOR_DELIVERY", dest_city,
                      dest_country, None])
        steps.append([delivered, "DELIVERED", dest_city, dest_country, "DELIVERED"])
    steps.sort(key=lambda s: s[0])
    return [(step[0] - step[0] % US_PER_SECOND, *step[1:]) for step in steps]


def shipment_step(world: World, t: int, sid: int, events_out) -> None:
    shipment = world.shipments[sid]
    when, code, city, country, status = shipment.steps.pop(0)
    if status:
        shipment.status = status
        shipment.updated = when
        if status == "DELIVERED":
            shipment.delivered_at = when
    event = (when, code, city, country)
    if shipment.visible_from:
        shipment.pending_events.append(event)
    else:
        if status:
            world.tms_changed[sid] = True
        events_out(world, sid, event, when)
    if shipment.steps:
        world.schedule(shipment.steps[0][0], E_SHIPMENT_STEP, sid)


def reveal_shipment(world: World, t: int, sid: int, events_out) -> None:
    """A late shipment finally reaches the TMS: its current state and all its events so far."""
    shipment = world.shipments[sid]
    shipment.visible_from = 0
    shipment.updated = t
    world.tms_changed[sid] = True
    for event in shipment.pending_events:
        events_out(world, sid, event, t)
    shipment.pending_events = []


class TrackingEventsFile:
    """The day's tracking events, spooled to a temporary file (bounded memory at large scale)."""

    def __init__(self):
        self.file = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+b")
        self.text = io.TextIOWrapper(self.file, encoding="utf-8", newline="")
        self.writer = csv.writer(self.text, lineterminator="\n")
        self.writer.writerow(TRACKING.header)
        self.rows = 0

    def __call__(self, world: World, sid: int, event: list, recorded: int) -> None:
        when, code, city, country = event
        eid = world.next_id("tracking_event")
        self.writer.writerow([ref.tms_event_id(eid), ref.tms_shipment_id(sid), ts_iso(when), code, city, country,
                              ts_iso(recorded)])
        self.rows += 1
        world.count("tracking_events")

    def content(self) -> bytes:
        """The finished extract (a day's worth: tens of MB at most at the large scale)."""
        self.text.flush()
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.text.close()


def shipments_extract(world: World) -> tuple[bytes, int]:
    """Rows of the shipments changed today, then forget the ones whose journey is over."""
    changed = sorted(world.tms_changed)
    data = SHIPMENTS.csv(world.shipments[sid].row() for sid in changed)
    for sid in changed:
        shipment = world.shipments[sid]
        if not shipment.steps and not shipment.visible_from:
            del world.shipments[sid]
    world.tms_changed.clear()
    return data, len(changed)


def carriers_extract(world: World, day_start: int, first_day: bool) -> tuple[bytes, int]:
    rows = [r for r in world.carriers if first_day or r[4] >= day_start]
    return CARRIERS.csv(rows), len(rows)


def change_carrier(world: World, t: int, carrier_id: str) -> None:
    """A carrier's master data changes (a rename after an acquisition): SCD2 material."""
    for row in world.carriers:
        if row[0] == carrier_id and not row[1].endswith(" Ltd"):
            row[1] = f"{row[1]} Ltd"
            row[4] = t - t % US_PER_SECOND
