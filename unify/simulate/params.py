"""Scale presets, fault names and the parameters of one simulation (persisted with its state).

A scale is a number: 1.0 creates about 1,000 orders a day. The presets name four numbers, and the
band a number falls in also sets the shape of the world and of the files (clients, SKUs, how often
DMS writes a CDC file, how big full-load and AppFlow part files get), so that tiny runs stay fast
and large runs look like production. Order volume is always proportional to the number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from unify.simulate.encode import US_PER_HOUR, day_start_us


class SimulationError(Exception):
    """A simulation cannot start or continue; the message names the landing zone or option and why."""


@dataclass(frozen=True)
class Band:
    """The shape of the world and files for scales from `min_scale` up."""

    name: str
    min_scale: float
    clients: int
    skus_per_client: int
    cdc_interval_minutes: int  # DMS CdcMaxBatchInterval: one CDC file per table per interval with changes
    load_file_rows: int  # full-load rows per LOAD file (DMS MaxFileSize, scaled down with the data)
    appflow_part_records: int  # records per AppFlow part file


PRESETS: dict[str, float] = {"tiny": 0.1, "small": 1.0, "medium": 10.0, "large": 50.0}
BANDS: tuple[Band, ...] = (
    Band("tiny", 0.0, 8, 25, 60, 16, 4),
    Band("small", 1.0, 20, 40, 15, 500, 25),
    Band("medium", 10.0, 50, 100, 5, 20_000, 250),
    Band("large", 50.0, 120, 200, 1, 100_000, 1_000),
)
ORDERS_PER_DAY_AT_SCALE_1 = 1000

# Every fault the simulator can inject, by name (all OFF unless asked). What each does: FAULTS_DOC.
FAULTS: tuple[str, ...] = (
    "duplicate_records", "redelivered_file", "out_of_order", "deletes", "added_column",
    "truncated_file", "corrupt_file", "malformed_json", "orphans", "late_shipments",
)
FAULTS_DOC: dict[str, str] = {
    "duplicate_records": "about 0.3% of DMS CDC records (at least one a day) written twice in the same file",
    "redelivered_file": "once a day a DMS CDC file lands again, byte-identical, under a new time-named key "
                        "(what a task restart does); and the day's TMS tracking_events extract is uploaded "
                        "twice to the same key (the extract job re-ran)",
    "out_of_order": "about 0.2% of OrderLines/InventoryBalances/Products CDC records (at least one a day) "
                    "land 1-3 files late; dms_change_seq keeps their true place",
    "deletes": "about 0.5% of new orders are deleted while NEW (DMS Op=D rows for lines and order, row "
               "before the delete); Salesforce deletes a Draft contract or a prospect account each day "
               "(IsDeleted=true in the next AppFlow execution)",
    "added_column": "from 12:00 UTC on the first day, dbo.Orders has a new column SalesChannel: every "
                    "later Orders CDC file has it in its header (NULL for orders created before)",
    "truncated_file": "once a day an OrderLines CDC file is cut mid-record (parquet: footer missing); "
                      "DMS re-sends it complete under a new key 45 s later",
    "corrupt_file": "once a day an InventoryBalances CDC file has a block of garbage bytes (invalid UTF-8, "
                    "NUL; parquet: bad footer); DMS re-sends it intact under a new key 45 s later",
    "malformed_json": "once a day an AppFlow execution fails leaving a part file with one malformed JSON "
                      "line (Parquet: a part cut short); AppFlow's retry (a new execution id a minute later) "
                      "delivers the records intact",
    "orphans": "each day some order lines arrive before their order (the Orders insert lands 1-3 CDC "
               "files late) and some orders' Orders records are held back until the day after they "
               "shipped, so their TMS shipment arrives first",
    "late_shipments": "about 1% of TMS shipments (at least one a day) first appear in the extract 2-3 days "
                      "after they shipped, with their tracking events",
}


def parse_faults(values: object) -> tuple[str, ...]:
    """Fault names from an iterable or comma-separated strings; 'all' and 'none' accepted."""
    if values is None:
        return ()
    items = [values] if isinstance(values, str) else list(values)  # type: ignore[arg-type]
    names: list[str] = []
    for item in items:
        for name in str(item).split(","):
            name = name.strip().lower().replace("-", "_")
            if not name or name == "none":
                continue
            if name == "all":
                names.extend(FAULTS)
            elif name in FAULTS:
                names.append(name)
            else:
                raise SimulationError(f"unknown fault {name!r}: choose from {', '.join(FAULTS)}, all, none")
    return tuple(f for f in FAULTS if f in names)


def resolve_scale(scale: str | float) -> tuple[float, str]:
    """(number, label) for a preset name or a number; raises SimulationError otherwise."""
    if isinstance(scale, str):
        key = scale.strip().lower()
        if key in PRESETS:
            return PRESETS[key], key
        try:
            value = float(key)
        except ValueError:
            raise SimulationError(f"unknown scale {scale!r}: use {', '.join(PRESETS)} or a number") from None
    else:
        value = float(scale)
    if not 0 < value <= 10_000:
        raise SimulationError(f"scale must be a positive number up to 10000, not {scale!r}")
    return value, f"{value:g}"


def band_for(scale: float) -> Band:
    chosen = BANDS[0]
    for band in BANDS:
        if scale >= band.min_scale:
            chosen = band
    return chosen


@dataclass(frozen=True)
class Params:
    """Everything that determines a simulation's output (with the seed); saved in its state."""

    seed: int
    scale: float
    scale_label: str
    fmt: str
    faults: tuple[str, ...]
    first_day: date
    band: Band

    @property
    def orders_per_day(self) -> float:
        return self.scale * ORDERS_PER_DAY_AT_SCALE_1

    def has(self, fault: str) -> bool:
        return fault in self.faults

    @property
    def added_column_at(self) -> int | None:
        """When dbo.Orders gets its new column (added_column fault): 12:00 UTC on the first day."""
        if not self.has("added_column"):
            return None
        return day_start_us(self.first_day) + 12 * US_PER_HOUR

    def to_json(self) -> dict:
        data = asdict(self)
        data["first_day"] = self.first_day.isoformat()
        data["faults"] = list(self.faults)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Params":
        return cls(
            seed=int(data["seed"]), scale=float(data["scale"]), scale_label=str(data["scale_label"]),
            fmt=str(data["fmt"]), faults=tuple(data["faults"]), first_day=date.fromisoformat(data["first_day"]),
            band=Band(**data["band"]),
        )
