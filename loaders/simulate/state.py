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
from dataclasses import asdict, dataclass

from loaders.simulate.params import Params, SimulationError

STATE_KEY = "_simulator/state.json.gz"
STATE_VERSION = 1

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
        return cls(*data)


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
        return (self.sid, self.order_number, self.wh_code, self.carrier_id, self.service, self.tracking,
                self.shipped_at, self.eta, self.delivered_at, self.status, self.weight_g, self.freight_cents,
                self.currency, self.updated)

    def to_json(self) -> list:
        return [getattr(self, n) for n in self.__slots__]

    @classmethod
    def from_json(cls, data: list) -> "Shipment":
        return cls(*data)


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

    def to_json(self) -> dict:
        if self.changes or self.inv_dirty or self.tms_changed:
            raise SimulationError("internal: simulator state saved in the middle of a day")
        return {
            "version": STATE_VERSION,
            "params": self.params.to_json(),
            "day_index": self.day_index,
            "counters": self.counters,
            "clients": [asdict(c) for c in self.clients.values()],
            "products": list(self.products.values()),
            "client_products": [[k, v] for k, v in self.client_products.items()],
            "inventory": [[k[0], k[1], *v] for k, v in self.inventory.items()],
            "reorder_pending": [list(k) for k in self.reorder_pending],
            "orders": [o.to_json() for o in self.orders.values()],
            "holds": [[k, v] for k, v in self.holds.items()],
            "late_inserts": [[k, v] for k, v in self.late_inserts.items()],
            "shipments": [s.to_json() for s in self.shipments.values()],
            "heap": self.heap,
            "held": self.held,
            "dms_last_key": self.dms_last_key,
            "dms_recent_names": self.dms_recent_names,
            "salesforce": self.salesforce,
            "appflow_last": self.appflow_last,
            "carriers": self.carriers,
        }

    @classmethod
    def from_json(cls, data: dict) -> "World":
        if data.get("version") != STATE_VERSION:
            raise SimulationError(f"simulator state version {data.get('version')!r} is not {STATE_VERSION}")
        world = cls(Params.from_json(data["params"]))
        world.day_index = data["day_index"]
        world.counters = data["counters"]
        world.clients = {c["client_id"]: Client(**c) for c in data["clients"]}
        world.products = {p[0]: p for p in data["products"]}
        world.client_products = {k: v for k, v in data["client_products"]}
        world.inventory = {(r[0], r[1]): r[2:] for r in data["inventory"]}
        world.reorder_pending = {(k[0], k[1]): True for k in data["reorder_pending"]}
        world.orders = {o[0]: Order.from_json(o) for o in data["orders"]}
        world.holds = {k: v for k, v in data["holds"]}
        world.late_inserts = {k: v for k, v in data["late_inserts"]}
        world.shipments = {s[0]: Shipment.from_json(s) for s in data["shipments"]}
        world.heap = [tuple(e) for e in data["heap"]]
        world.held = data["held"]
        world.dms_last_key = data["dms_last_key"]
        world.dms_recent_names = data["dms_recent_names"]
        world.salesforce = data["salesforce"]
        world.appflow_last = data["appflow_last"]
        world.carriers = data["carriers"]
        return world

    def dump(self) -> io.BytesIO:
        """The state as gzip-compressed JSON (deterministic: no timestamp in the gzip header)."""
        out = io.BytesIO()

        def encode(value) -> bytes:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
            gz.write(b"{")
            for number, (name, value) in enumerate(self.to_json().items()):
                gz.write(b"%s%s:" % (b"," if number else b"", encode(name)))
                if isinstance(value, list) and len(value) > 1000:  # big lists in chunks: bounded memory
                    gz.write(b"[")
                    for first in range(0, len(value), 1000):
                        gz.write(b"%s%s" % (b"," if first else b"", encode(value[first:first + 1000])[1:-1]))
                    gz.write(b"]")
                else:
                    gz.write(encode(value))
            gz.write(b"}")
        out.seek(0)
        return out

    @classmethod
    def load(cls, data: bytes) -> "World":
        try:
            return cls.from_json(json.loads(gzip.decompress(data)))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise SimulationError(f"simulator state {STATE_KEY} is unreadable: {err}") from err
