"""AzureWare WMS: orders moving NEW -> ALLOCATED -> PICKING -> PACKED -> SHIPPED (or CANCELLED), stock.

Each change is emitted as the row after it (DMS `U`), inserts as `I`, deletes as the row before (`D`);
an order and its lines change in one transaction, so they share a commit time. An order's whole
plan (when it is allocated, picked, packed, shipped, how many units are short) is drawn when it is
created; the heap then replays the steps in time order.
"""

from __future__ import annotations

import random

from unify.simulate import reference as ref
from unify.simulate.encode import US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, date_ordinal_of
from unify.simulate.names import CITIES, DESTINATIONS, address, company_customer, person_name, postcode
from unify.simulate.state import E_ORDER_STEP, E_RECEIPT, Order, World, line_row
from unify.simulate.world import new_product

CHANNELS = ("WEB", "EDI", "MARKETPLACE", "API")
B2C_LINES = ((1, 50), (2, 25), (3, 15), (4, 6), (5, 4))
DELETE = "DELETE"  # a plan step: the order is deleted (deletes fault)


def _weighted(rng: random.Random, pairs) -> object:
    total = sum(w for _, w in pairs)
    x = rng.random() * total
    for value, w in pairs:
        x -= w
        if x < 0:
            return value
    return pairs[-1][0]


class Faults:
    """The day's fault decisions, drawn from their own random stream so data draws stay the same."""

    def __init__(self, world: World, rng: random.Random):
        self.world = world
        self.rng = rng
        self.params = world.params
        # faults that must happen at least once a day: consumed by the first eligible record
        self.forced = {f: True for f in world.params.faults}
        if world.params.has("orphans"):
            self.forced["orphans_shipment"] = True

    def pick(self, fault: str, rate: float, key: str | None = None) -> bool:
        """Whether this record gets the fault: the day's first eligible one does, then by `rate`."""
        if not self.params.has(fault):
            return False
        if self.forced.pop(key or fault, False):
            return True
        return self.rng.random() < rate


def create_order(world: World, rng: random.Random, faults: Faults, t: int, client_id: int, wh_id: int) -> None:
    client = world.clients[client_id]
    wh = ref.WAREHOUSE_BY_ID[wh_id]
    oid = world.next_id("order")
    b2b = rng.random() < client.b2b_share
    express = not b2b and rng.random() < 0.15
    country = _weighted(rng, DESTINATIONS[wh.country])
    domestic = country == wh.country
    city = rng.choice(CITIES[country])
    customer = company_customer(rng) if b2b else person_name(rng)
    addr = address(rng, city, country)
    pc = postcode(rng, country)
    if express:
        mode, transit, rsb = "AIR", 1 if domestic else 2, t + 6 * US_PER_HOUR
    elif b2b:
        ocean = not domestic and rng.random() < 0.05
        mode, transit = ("OCEAN", 12) if ocean else ("ROAD", 2 if domestic else 4)
        rsb = t + 48 * US_PER_HOUR
    else:
        mode, transit, rsb = "PARCEL", 2 if domestic else 4, t + 24 * US_PER_HOUR
    rsb -= rsb % US_PER_MINUTE
    promised = date_ordinal_of(rsb) + transit
    products = world.client_products[client_id]
    n_lines = min(len(products), rng.randint(3, 15) if b2b else _weighted(rng, B2C_LINES))
    lines = []
    for number, pid in enumerate(rng.sample(products, n_lines), start=1):
        qty = rng.randint(5, 60) if b2b else _weighted(rng, ((1, 70), (2, 20), (3, 6), (4, 4)))
        picked = qty
        if rng.random() < client.short_rate:
            picked = qty - rng.randint(1, max(1, qty // 3))
        shipped = picked - 1 if picked > 0 and rng.random() < 0.002 else picked  # damaged at packing
        lines.append([world.next_id("line"), number, pid, qty, 0, 0, t, picked, shipped])
    if all(line[8] == 0 for line in lines):
        lines[0][7] = lines[0][8] = 1
    plan = _plan(rng, client.late_rate, t, rsb)
    channel = None
    added_at = world.params.added_column_at
    if added_at is not None and t >= added_at:
        channel = faults.rng.choice(CHANNELS)
    if faults.pick("deletes", 0.005):
        plan = [[t + int(faults.rng.uniform(2, 20) * US_PER_MINUTE), DELETE]]
    if faults.pick("orphans", 0.004):
        world.late_inserts[oid] = faults.rng.randint(1, 3)
    elif plan[-1][1] == "SHIPPED" and faults.pick("orphans", 0.002, key="orphans_shipment"):
        # the order's rows reach S3 only after the day its TMS shipment is extracted
        ship_day_end = (plan[-1][0] // US_PER_DAY + 1) * US_PER_DAY
        world.holds[oid] = ship_day_end + int(faults.rng.uniform(1, 12) * US_PER_HOUR)
    order = Order(oid, f"{wh.code}-{oid:09d}", client_id, wh_id, "B2B" if b2b else "B2C",
                  "EXPRESS" if express else "STANDARD", t, rsb, promised, "NEW", None, customer, addr, pc,
                  country, t, channel, city, mode, transit, False, lines, plan)
    world.orders[oid] = order
    world.emit(t, "Orders", "I", order.row(), oid)
    for line in lines:
        world.emit(t, "OrderLines", "I", line_row(oid, line))
    world.count("orders")
    world.count("order_lines", len(lines))
    world.schedule(plan[0][0], E_ORDER_STEP, oid)


def _plan(rng: random.Random, late_rate: float, t: int, rsb: int) -> list[list]:
    alloc = t + int(rng.uniform(3, 40) * US_PER_MINUTE)
    if rng.random() < 0.025:  # cancelled by the client before picking
        cancel = alloc + int(rng.uniform(0.1, 5) * US_PER_HOUR)
        return [[alloc, "ALLOCATED"], [cancel, "CANCELLED"]] if rng.random() < 0.6 else [[alloc, "CANCELLED"]]
    if rng.random() < late_rate:
        ship = rsb + int(rng.uniform(0.5, 20) * US_PER_HOUR)
    else:
        ship = t + int((rsb - t) * rng.uniform(0.3, 0.92))
    ship = max(ship, alloc + 40 * US_PER_MINUTE)
    pick = alloc + int((ship - alloc) * rng.uniform(0.2, 0.6))
    packed = pick + int((ship - pick) * rng.uniform(0.3, 0.85))
    return [[alloc, "ALLOCATED"], [pick, "PICKING"], [packed, "PACKED"], [ship, "SHIPPED"]]


def order_step(world: World, rng: random.Random, faults: Faults, t: int, oid: int, ship_order) -> None:
    order = world.orders[oid]
    _, step = order.plan.pop(0)
    if step == DELETE:
        for line in order.lines:
            world.emit(t, "OrderLines", "D", line_row(oid, line))
        world.emit(t, "Orders", "D", order.row(), oid)
        del world.orders[oid]
        world.count("orders_deleted")
        return
    order.status = step
    order.modified = t
    if step == "ALLOCATED":
        order.allocated = True
        for line in order.lines:
            _touch(world, rng, t, order.wh_id, line[2], 0, line[3])
    elif step == "PACKED":
        for line in order.lines:
            line[4], line[6] = line[7], t
            world.emit(t, "OrderLines", "U", line_row(oid, line))
    elif step == "SHIPPED":
        order.shipped_at = t
        for line in order.lines:
            line[5], line[6] = line[8], t
            world.emit(t, "OrderLines", "U", line_row(oid, line))
            _touch(world, rng, t, order.wh_id, line[2], -line[8], -line[3])
    elif step == "CANCELLED" and order.allocated:
        for line in order.lines:
            _touch(world, rng, t, order.wh_id, line[2], 0, -line[3])
    world.emit(t, "Orders", "U", order.row(), oid)
    if order.plan:
        world.schedule(order.plan[0][0], E_ORDER_STEP, oid)
        return
    del world.orders[oid]
    if step == "SHIPPED":
        ship_order(world, rng, faults, t, order)


# --- stock ----------------------------------------------------------------------------------------


def _touch(world: World, rng: random.Random, t: int, wh: int, pid: int, d_on_hand: int, d_allocated: int) -> None:
    balance = world.inventory.get((wh, pid))
    if balance is None:
        return
    balance[0] = max(0, balance[0] + d_on_hand)
    balance[1] = max(0, balance[1] + d_allocated)
    balance[2] = t
    world.inv_dirty[(wh, pid)] = t
    if balance[0] - balance[1] < balance[3] // 4 and (wh, pid) not in world.reorder_pending:
        world.reorder_pending[(wh, pid)] = True
        world.schedule(t + int(rng.uniform(8, 36) * US_PER_HOUR), E_RECEIPT, wh, pid)


def receipt(world: World, t: int, wh: int, pid: int) -> None:
    """Goods received: stock is topped up to the target level plus what is allocated."""
    world.reorder_pending.pop((wh, pid), None)
    balance = world.inventory[(wh, pid)]
    balance[0] = max(balance[0], balance[3] + balance[1])
    balance[2] = t
    world.inv_dirty[(wh, pid)] = t
    client_id = world.products[pid][1]
    orderable = world.client_products[client_id]
    if pid not in orderable:
        orderable.append(pid)


def cycle_count(world: World, rng: random.Random, t: int, wh: int, pid: int) -> None:
    balance = world.inventory.get((wh, pid))
    if balance is not None:
        balance[0] = max(0, balance[0] + rng.choice((-3, -2, -1, 1, 2)))
        balance[2] = t
        world.inv_dirty[(wh, pid)] = t


def inventory_changes(world: World) -> None:
    """Emit one row per stock balance touched in the interval (the WMS posts stock in batches)."""
    for key, last in world.inv_dirty.items():
        balance = world.inventory[key]
        world.emit(last, "InventoryBalances", "U", (key[0], key[1], balance[0], balance[1], balance[2]))
    world.inv_dirty.clear()


def add_product(world: World, rng: random.Random, t: int, client_id: int) -> None:
    """A new SKU: Products insert, zero stock in the client's warehouses, a first receipt later."""
    client = world.clients[client_id]
    row = new_product(world, rng, client, t)
    world.emit(t, "Products", "I", tuple(row))
    for wh in client.warehouses:
        target = int(rng.uniform(300, 3000))
        world.inventory[(wh, row[0])] = [0, 0, t, target]
        world.emit(t, "InventoryBalances", "I", (wh, row[0], 0, 0, t))
        world.reorder_pending[(wh, row[0])] = True
        world.schedule(t + int(rng.uniform(2, 30) * US_PER_HOUR), E_RECEIPT, wh, row[0])
    world.count("products_added")


def update_product(world: World, rng: random.Random, t: int, pid: int) -> None:
    """A corrected weight (master data maintenance)."""
    row = world.products[pid]
    row[4] = max(10, int(row[4] * rng.uniform(0.8, 1.25)))
    row[7] = t
    world.emit(t, "Products", "U", tuple(row))
