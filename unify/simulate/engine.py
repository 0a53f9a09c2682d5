"""The day loop, the public API (simulate, continue_simulation) and the run report.

A day: schedule its orders, Salesforce changes and AppFlow executions; replay every event in time
order, writing one DMS CDC file per table at the end of each interval; at midnight write the TMS
extracts. The day's random streams are seeded by (seed, date) only, and the state between days is
saved exactly, so days N+1.. continue identically whether or not the run stopped after day N.
"""

from __future__ import annotations

import heapq
import logging
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import BinaryIO, Iterable

from loaders.landing import LandingError, LandingZone, open_landing
from unify.simulate import crm, tms, wms
from unify.simulate import reference as ref
from unify.simulate.dms import DmsWriter, interval_us
from unify.simulate.encode import US_PER_DAY, US_PER_HOUR, day_start_us
from unify.simulate.params import Params, SimulationError, band_for, parse_faults, resolve_scale
from unify.simulate.state import (E_APPFLOW, E_CARRIER_CHANGE, E_CREATE_ORDER, E_CYCLE_COUNT, E_NEW_PRODUCT,
                                    E_ORDER_STEP, E_PRODUCT_UPDATE, E_RECEIPT, E_REVEAL_SHIPMENT, E_SALESFORCE,
                                    E_SHIPMENT_STEP, STATE_KEY, World)
from unify.simulate.world import build_world

log = logging.getLogger(__name__)

# Orders by local hour of the warehouse (relative weights) and by weekday (Monday first).
HOUR_PROFILE = (1, 1, 1, 1, 1, 1, 2, 4, 5, 7, 8, 8, 8, 8, 7, 7, 7, 6, 6, 6, 6, 5, 3, 2)
WEEKDAY_FACTOR = (1.1, 1.05, 1.0, 1.0, 1.05, 0.7, 0.55)


@dataclass
class SimulationReport:
    landing: str
    first_day: date  # first day this invocation simulated
    last_day: date  # last day it simulated (inclusive)
    scale: str
    seed: int
    fmt: str
    faults: tuple[str, ...]
    files_written: int = 0
    bytes_written: int = 0
    rows_by_table: dict[str, int] = field(default_factory=dict)  # source table name -> records written
    entities: dict[str, int] = field(default_factory=dict)  # orders, order_lines, shipments, ... created
    seconds: float = 0.0
    peak_rss_mb: float = 0.0

    @property
    def rows_total(self) -> int:
        return sum(self.rows_by_table.values())

    @property
    def rows_per_second(self) -> float:
        return self.rows_total / self.seconds if self.seconds else 0.0

    @property
    def mb_per_second(self) -> float:
        return self.bytes_written / 1e6 / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        tables = ", ".join(f"{name} {n:,}" for name, n in sorted(self.rows_by_table.items()))
        return (f"simulated {self.first_day} .. {self.last_day} (scale {self.scale}, seed {self.seed}, "
                f"{self.fmt}, faults: {', '.join(self.faults) or 'none'}) into {self.landing}\n"
                f"  {self.entities.get('orders', 0):,} orders, {self.entities.get('order_lines', 0):,} order lines, "
                f"{self.entities.get('shipments', 0):,} shipments, "
                f"{self.entities.get('tracking_events', 0):,} tracking events\n"
                f"  records: {tables}\n"
                f"  {self.files_written:,} files, {self.bytes_written / 1e6:,.1f} MB, {self.rows_total:,} records in "
                f"{self.seconds:,.1f} s: {self.rows_per_second:,.0f} records/s, {self.mb_per_second:,.1f} MB/s, "
                f"peak RSS {self.peak_rss_mb:,.0f} MB")


class Output:
    """Writes to the landing zone and counts what was written."""

    def __init__(self, zone: LandingZone, report: SimulationReport):
        self.zone = zone
        self.report = report

    def write(self, key: str, data: bytes | BinaryIO, table: str | None, rows: int | None) -> None:
        if isinstance(data, (bytes, bytearray)):
            size = len(data)
        else:
            size = data.seek(0, 2)
            data.seek(0)
        self.zone.write(key, data)
        self.report.bytes_written += size
        if key.startswith("_simulator/"):
            return
        self.report.files_written += 1
        if table and rows:
            self.report.rows_by_table[table] = self.report.rows_by_table.get(table, 0) + rows

    def read(self, key: str) -> bytes:
        return self.zone.read_bytes(key)


class Runner:
    def __init__(self, zone: LandingZone, world: World, report: SimulationReport, progress: bool):
        self.zone = zone
        self.world = world
        self.report = report
        self.out = Output(zone, report)
        self.progress = progress

    def run(self, days: int) -> None:
        from tqdm import tqdm

        per_day = US_PER_DAY // interval_us(self.world)
        show = self.progress and sys.stderr.isatty()
        with tqdm(total=days * per_day, unit="batch", desc="simulate", file=sys.stderr, disable=not show,
                  mininterval=0.5) as bar:
            for _ in range(days):
                self.run_day(bar)
        self.out.write(STATE_KEY, self.world.dump(), None, 0)

    def run_day(self, bar) -> None:
        w = self.world
        params = w.params
        day = params.first_day + timedelta(days=w.day_index)
        t0 = day_start_us(day)
        rng = random.Random(f"{params.seed}:{day.isoformat()}:data")
        faults = wms.Faults(w, random.Random(f"{params.seed}:{day.isoformat()}:faults"))
        interval = interval_us(w)
        dms = DmsWriter(w, self.out, random.Random(f"{params.seed}:{day.isoformat()}:files"), faults, interval)
        events = tms.TrackingEventsFile()
        bar.set_description(f"simulate {day.isoformat()}", refresh=False)
        if w.day_index == 0:
            dms.full_load(t0)
        self._schedule_day(rng, faults, day, t0)
        for index in range(US_PER_DAY // interval):
            t_end = t0 + (index + 1) * interval
            self._process_until(t_end, rng, faults, events)
            dms.flush(index, t_end)
            bar.update(1)
        self._write_tms(day, t0, events, faults)
        w.day_index += 1
        log.debug("simulated %s", day)

    def _schedule_day(self, rng: random.Random, faults: wms.Faults, day: date, t0: int) -> None:
        w = self.world
        clients = list(w.clients.values())
        cumulative, total = [], 0.0
        for client in clients:
            total += client.weight
            cumulative.append(total)
        n_orders = round(w.params.orders_per_day * WEEKDAY_FACTOR[day.weekday()] * rng.uniform(0.92, 1.08))
        hours = range(24)
        for _ in range(n_orders):
            client = rng.choices(clients, cum_weights=cumulative)[0]
            wh_id = client.warehouses[0] if len(client.warehouses) == 1 or rng.random() < 0.8 else client.warehouses[1]
            local_hour = rng.choices(hours, weights=HOUR_PROFILE)[0]
            utc_hour = (local_hour - ref.WAREHOUSE_BY_ID[wh_id].utc_offset_hours) % 24
            w.schedule(t0 + utc_hour * US_PER_HOUR + rng.randrange(US_PER_HOUR), E_CREATE_ORDER, client.client_id, wh_id)
        for client in clients:
            if rng.random() < 0.03:
                w.schedule(t0 + rng.randrange(US_PER_DAY), E_NEW_PRODUCT, client.client_id)
        keys = list(w.inventory)
        for _ in range(max(1, len(keys) // 200)):
            wh, pid = keys[rng.randrange(len(keys))]
            w.schedule(t0 + rng.randrange(US_PER_DAY), E_CYCLE_COUNT, wh, pid)
        products = list(w.products)
        for _ in range(max(1, len(products) // 500)):
            w.schedule(t0 + rng.randrange(US_PER_DAY), E_PRODUCT_UPDATE, products[rng.randrange(len(products))])
        if w.day_index == 3:
            w.schedule(t0 + 10 * US_PER_HOUR, E_CARRIER_CHANGE, ref.tms_carrier_id(13))
        crm.schedule_day(w, rng, faults, t0, day, w.day_index)

    def _process_until(self, t_end: int, rng: random.Random, faults: wms.Faults, events) -> None:
        w = self.world
        heap = w.heap
        while heap and heap[0][0] < t_end:
            t, _, kind, a, b = heapq.heappop(heap)
            if kind == E_ORDER_STEP:
                wms.order_step(w, rng, faults, t, a, tms.ship_order)
            elif kind == E_SHIPMENT_STEP:
                tms.shipment_step(w, t, a, events)
            elif kind == E_CREATE_ORDER:
                wms.create_order(w, rng, faults, t, a, b)
            elif kind == E_RECEIPT:
                wms.receipt(w, t, a, b)
            elif kind == E_CYCLE_COUNT:
                wms.cycle_count(w, rng, t, a, b)
            elif kind == E_NEW_PRODUCT:
                wms.add_product(w, rng, t, a)
            elif kind == E_PRODUCT_UPDATE:
                wms.update_product(w, rng, t, a)
            elif kind == E_SALESFORCE:
                crm.change(w, rng, t, a, b)
            elif kind == E_APPFLOW:
                crm.run_execution(w, rng, faults, t, a, self.out, w.params.fmt)
            elif kind == E_REVEAL_SHIPMENT:
                tms.reveal_shipment(w, t, a, events)
            elif kind == E_CARRIER_CHANGE:
                tms.change_carrier(w, t, a)
            else:
                raise SimulationError(f"internal: unknown event kind {kind}")

    def _write_tms(self, day: date, t0: int, events: tms.TrackingEventsFile, faults: wms.Faults) -> None:
        w = self.world
        data, rows = tms.carriers_extract(w, t0, w.day_index == 0)
        self.out.write(tms.tms_key("carriers", day), data, "carriers", rows)
        data, rows = tms.shipments_extract(w)
        self.out.write(tms.tms_key("shipments", day), data, "shipments", rows)
        key = tms.tms_key("tracking_events", day)
        data = events.content()
        events.close()
        self.out.write(key, data, "tracking_events", events.rows)
        if w.params.has("redelivered_file"):  # the extract job re-ran: same key, same bytes
            self.out.write(key, data, None, 0)


# --- public API -----------------------------------------------------------------------------------


def _zone(landing: str | LandingZone) -> LandingZone:
    return open_landing(landing) if isinstance(landing, str) else landing


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def simulate(landing: str | LandingZone, *, scale: str | float = "tiny", days: int = 7, start: date | None = None,
             seed: int = 42, fmt: str = "csv", faults: Iterable[str] = (), progress: bool = False) -> SimulationReport:
    """Simulate `days` days of GLC's sources from `start` (default: today UTC minus `days`) into `landing`."""
    zone = _zone(landing)
    value, label = resolve_scale(scale)
    if fmt not in ("csv", "parquet"):
        raise SimulationError(f"format must be csv or parquet, not {fmt!r}")
    if days < 1:
        raise SimulationError(f"days must be at least 1, not {days}")
    if start is None:
        start = datetime.now(timezone.utc).date() - timedelta(days=days)
    try:
        if zone.exists(STATE_KEY):
            raise SimulationError(f"{zone.url} already holds a simulation ({STATE_KEY}); use continue, "
                                  "or simulate into an empty landing zone")
    except LandingError as err:
        raise SimulationError(str(err)) from err
    params = Params(seed=int(seed), scale=value, scale_label=label, fmt=fmt, faults=parse_faults(faults),
                    first_day=start, band=band_for(value))
    return _run(zone, build_world(params), days, progress)


def continue_simulation(landing: str | LandingZone, *, days: int = 1, progress: bool = False) -> SimulationReport:
    """Append the next `days` days to the simulation saved in `landing`."""
    zone = _zone(landing)
    if days < 1:
        raise SimulationError(f"days must be at least 1, not {days}")
    try:
        if not zone.exists(STATE_KEY):
            raise SimulationError(f"{zone.url} holds no simulation to continue ({STATE_KEY} not found)")
        world = World.load(zone.read_bytes(STATE_KEY))
    except LandingError as err:
        raise SimulationError(str(err)) from err
    return _run(zone, world, days, progress)


def _run(zone: LandingZone, world: World, days: int, progress: bool) -> SimulationReport:
    params = world.params
    first = params.first_day + timedelta(days=world.day_index)
    report = SimulationReport(landing=zone.url, first_day=first, last_day=first + timedelta(days=days - 1),
                              scale=params.scale_label, seed=params.seed, fmt=params.fmt, faults=params.faults)
    started = time.perf_counter()
    try:
        Runner(zone, world, report, progress).run(days)
    except LandingError as err:
        raise SimulationError(f"writing to {zone.url} failed: {err}") from err
    report.seconds = time.perf_counter() - started
    report.entities = dict(sorted(world.stats.items()))
    report.peak_rss_mb = _peak_rss_mb()
    log.debug("simulation written: %s files, %.1f MB, %.1f s", report.files_written, report.bytes_written / 1e6,
             report.seconds)
    return report
