"""The simulator's state between days: what is open in the WMS, the TMS and Salesforce, and counters.

Only open work is kept (orders not yet shipped or cancelled, shipments not yet delivered or returned),
so memory is bounded by what is in flight, not by history. At the end of a run the state is saved
under `_simulator/` in the landing zone, and `continue` resumes from it: because every day draws
from its own random stream (seeded by seed and date), a run split in two writes exactly the files
one longer run writes.
"""

from __future__ import annotations

import gzip
import heapq
import io
import json
import sys
from dataclasses import asdict, dataclass
from typing import Iterator

from unify.simulate.params import Params, SimulationError
from unify.simulate.reference import tms_shipment_id

STATE_KEY = "_simulator/state.json.gz"
STATE_VERSION = 2  # 2: TMS carrier ids are strings (C7)

# Event kinds in the heap: (time_us, tiebreak, kind, a, b)
E_CREATE_ORDER, E_ORDER_STEP, E_SHIPMENT_STEP, E_RECEIPT, E_SALESFORCE, E_APPFLOW = 1, 2, 3, 4, 5, 6
E_NEW_PRODUCT, E_CYCLE_COUNT, E_CARRIER_CHANGE, E_REVEAL_SHIPMENT, E_PRODUCT_UPDATE = 7, 8, 9, 10, 11


@dataclass
class Client:
    client_id: int
    code: str
    name: str
    modified: int
    weight: float  # share of order volume (relative)
    b2b_share: float
    short_rate: float  # chance a line is picked short
    late_rate: float  # chance an order ships after RequiredShipBy
    carrier_penalty: float  # subtracted from carriers' on-time rates (difficult destinations)
    warehouses: list[int]  # primary first
    account_id: str


class Order:
    """An open WMS order with its lines and the steps it has yet to go through."""

    __slots__ = ("oid", "number", "client_id", "wh_id", "otype", "prio", "created", "rsb", "promised",
                 "status", "shipped_at", "customer", "address", "postcode", "country", "modified",
                 "channel", "city", "mode", "transit_days", "allocated", "lines", "plan")

    def __init__(self, *values):
        for name, value in zip(self.__slots__, values):
            setattr(self, name, value)

    def row(self) -> tuple:
        """dbo.Orders columns in the contract's order, plus SalesChannel (the added_column fault) last."""
        return (self.oid, self.number, self.client_id, self.wh_id, self.otype, self.prio, self.created,
                self.rsb, self.promised, self.status, self.shipped_at, self.customer, self.address,
                self.postcode, self.country, self.modified, self.channel)

    def to_json(self) -> list:
        return [getattr(self, n) for n in self.__slots__]

    @classmethod
    def from_json(cls, data: list) -> "Order":
        order = cls(*data)
        for name in ("otype", "prio", "status", "country", "city", "mode", "channel"):
            setattr(order, name, _intern(getattr(order, name)))
        order.plan = [[t, sys.intern(step)] for t, step in order.plan]
        return order


# Order line: [OrderLineId, LineNumber, ProductId, QtyOrdered, QtyPicked, QtyShipped, ModifiedAt,
#              planned QtyPicked, planned QtyShipped]
def line_row(order_id: int, line: list) -> tuple:
    return (line[0], order_id, line[1], line[2], line[3], line[4], line[5], line[6])


class Shipment:
    """A TMS shipment in flight, with its remaining tracking steps."""

    __slots__ = ("sid", "order_number", "wh_code", "carrier_id", "service", "tracking", "shipped_at", "eta",
                 "delivered_at", "status", "weight_g", "freight_cents", "currency", "updated", "steps",
                 "visible_from", "pending_events")

    def __init__(self, *values):
        for name, value in zip(self.__slots__, values):
            setattr(self, name, value)

    def row(self) -> tuple:
        return (tms_shipment_id(self.sid), self.order_number, self.wh_code, self.carrier_id, self.service, self.tracking,
                self.shipped_at, self.eta, self.delivered_at, self.status, self.weight_g, self.freight_cents,
                self.currency, self.updated)

    def to_json(self) -> list:
        return [getattr(self, n) for n in self.__slots__]

    @classmethod
    def from_json(cls, data: list) -> "Shipment":
        """Steps become tuples of shared strings again: shipments in flight are most of the state."""
        shipment = cls(*data)
        for name in ("wh_code", "service", "status", "currency"):
            setattr(shipment, name, _intern(getattr(shipment, name)))
        shipment.steps = [tuple(_intern(v) for v in step) for step in shipment.steps]
        shipment.pending_events = [tuple(_intern(v) for v in e) for e in shipment.pending_events]
        return shipment


def _intern(value):
    return sys.intern(value) if isinstance(value, str) else value


class World:
    """All simulation state. Buffers that only live within a day are empty whenever it is saved."""

    def __init__(self, params: Params):
        self.params = params
        self.day_index = 0
        self.counters: dict[str, int] = {}
        self.clients: dict[int, Client] = {}
        self.products: dict[int, list] = {}  # pid -> Products row values
        self.client_products: dict[int, list[int]] = {}  # orderable SKUs per client
        self.inventory: dict[tuple[int, int], list] = {}  # (wh, pid) -> [onhand, allocated, modified, target]
        self.reorder_pending: dict[tuple[int, int], bool] = {}
        self.orders: dict[int, Order] = {}
        self.holds: dict[int, int] = {}  # orphans: OrderId -> Orders records held until this time
        self.late_inserts: dict[int, int] = {}  # orphans: OrderId -> CDC files its insert is late by
        self.shipments: dict[int, Shipment] = {}
        self.heap: list[tuple] = []
        self.held: list[list] = []  # DMS records landing late: [target_us, table, op, commit, seq, values]
        self.dms_last_key: dict[str, list] = {}  # table -> [key, rows] of its last CDC file
        self.dms_recent_names: dict[str, list[str]] = {}
        self.salesforce: dict[str, dict[str, list]] = {"User": {}, "Account": {}, "Contract": {}}
        self.appflow_last: dict[str, int] = {}
        self.carriers: list[list] = []  # [carrier_id, name, scac, mode, updated_at]
        # within-day buffers
        self.changes: list[tuple] = []  # DMS changes of the current interval: (commit, table, op, values, oid)
        self.inv_dirty: dict[tuple[int, int], int] = {}
        self.tms_changed: dict[int, bool] = {}
        self.stats: dict[str, int] = {}  # entities created in this invocation (not saved)

    # --- ids and events ---------------------------------------------------------------------------

    def next_id(self, name: str) -> int:
        value = self.counters[name] + 1
        self.counters[name] = value
        return value

    def schedule(self, time_us: int, kind: int, a: object = 0, b: object = 0) -> None:
        heapq.heappush(self.heap, (time_us, self.next_id("event"), kind, a, b))

    def count(self, name: str, n: int = 1) -> None:
        self.stats[name] = self.stats.get(name, 0) + n

    def emit(self, commit_us: int, table: str, op: str, values: tuple, oid: int = 0) -> None:
        """Record a committed change for DMS to pick up in the current interval."""
        self.changes.append((commit_us, table, op, values, oid))

    # --- persistence ------------------------------------------------------------------------------
    # The state is gzip-compressed JSON Lines: a header object with the small parts, then one line per
    # product, stock balance, open order, shipment in flight, pending event and held record, so that
    # saving and loading never need the whole state as one document in memory.

    STREAMED = ("products", "inventory", "orders", "shipments", "heap", "held")

    def _header(self) -> dict:
        if self.changes or self.inv_dirty or self.tms_changed:
            raise SimulationError("internal: simulator state saved in the middle of a day")
        return {
            "version": STATE_VERSION,
            "params": self.params.to_json(),
            "day_index": self.day_index,
            "counters": self.counters,
            "clients": [asdict(c) for c in self.clients.values()],
            "client_products": [[k, v] for k, v in self.client_products.items()],
            "reorder_pending": [list(k) for k in self.reorder_pending],
            "holds": [[k, v] for k, v in self.holds.items()],
            "late_inserts": [[k, v] for k, v in self.late_inserts.items()],
            "dms_last_key": self.dms_last_key,
            "dms_recent_names": self.dms_recent_names,
            "salesforce": self.salesforce,
            "appflow_last": self.appflow_last,
            "carriers": self.carriers,
        }

    def _streamed(self, name: str) -> Iterator:
        if name == "products":
            return iter(self.products.values())
        if name == "inventory":
            return ([k[0], k[1], *v] for k, v in self.inventory.items())
        if name == "orders":
            return (o.to_json() for o in self.orders.values())
        if name == "shipments":
            return (s.to_json() for s in self.shipments.values())
        return iter(getattr(self, name))  # heap, held

    def dump(self) -> io.BytesIO:
        """The state, deterministic to the byte (no timestamp in the gzip header)."""
        out = io.BytesIO()

        def encode(value) -> str:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
            gz.write((encode(self._header()) + "\n").encode("utf-8"))
            for name in self.STREAMED:
                lines: list[str] = []
                for item in self._streamed(name):
                    lines.append(f'["{name}",{encode(item)}]\n')
                    if len(lines) >= 2000:
                        gz.write("".join(lines).encode("utf-8"))
                        lines.clear()
                gz.write("".join(lines).encode("utf-8"))
        out.seek(0)
        return out

    @classmethod
    def load(cls, data: bytes) -> "World":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as gz:
                lines = io.TextIOWrapper(gz, encoding="utf-8")
                world = cls._from_header(json.loads(next(lines)))
                for line in lines:
                    name, item = json.loads(line)
                    world._load_item(name, item)
                return world
        except (OSError, ValueError, KeyError, TypeError, StopIteration) as err:
            raise SimulationError(f"simulator state {STATE_KEY} is unreadable: {err}") from err

    @classmethod
    def _from_header(cls, data: dict) -> "World":
        if data.get("version") != STATE_VERSION:
            raise SimulationError(f"simulator state version {data.get('version')!r} is not {STATE_VERSION}")
        world = cls(Params.from_json(data["params"]))
        world.day_index = data["day_index"]
        world.counters = data["counters"]
        world.clients = {c["client_id"]: Client(**c) for c in data["clients"]}
        world.client_products = {k: v for k, v in data["client_products"]}
        world.reorder_pending = {(k[0], k[1]): True for k in data["reorder_pending"]}
        world.holds = {k: v for k, v in data["holds"]}
        world.late_inserts = {k: v for k, v in data["late_inserts"]}
        world.dms_last_key = data["dms_last_key"]
        world.dms_recent_names = data["dms_recent_names"]
        world.salesforce = data["salesforce"]
        world.appflow_last = data["appflow_last"]
        world.carriers = data["carriers"]
        return world

    def _load_item(self, name: str, item: list) -> None:
        if name == "products":
            self.products[item[0]] = item
        elif name == "inventory":
            self.inventory[(item[0], item[1])] = item[2:]
        elif name == "orders":
            self.orders[item[0]] = Order.from_json(item)
        elif name == "shipments":
            self.shipments[item[0]] = Shipment.from_json(item)
        elif name == "heap":
            self.heap.append(tuple(_intern(v) for v in item))
        elif name == "held":
            self.held.append(item)
        else:
            raise ValueError(f"unknown state section {name!r}")
