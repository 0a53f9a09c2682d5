"""What `unify bench` measured, as records, and how it is written: a JSON file and a Markdown table.

Every figure is a measurement of this run; goals are stated next to them and judged at the largest
scale run ("met" = yes/no), never asserted. How a cost grows with scale is the exponent b of
cost ~ order_lines^b, fitted by least squares on log(cost) vs log(order lines) over the scales run
(b = 1: linear; b = 0: flat), and the same between the two largest scales only (the marginal growth:
at small scales fixed costs such as dbt's start-up flatten the ladder's fit). With 30% more volume a
year a cost grows by 1.3^b a year (b of the two largest scales).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Callable

YEARLY_GROWTH = 1.3  # NFR-2: 30% more volume a year


@dataclass
class SimulateFigures:
    seconds: float
    peak_rss_mb: float  # the simulator process's own peak resident set (its getrusage, reported by the child)
    days: int
    orders: int
    order_lines: int
    records: int  # source records written (all tables, all systems)
    files: int
    megabytes: float


@dataclass
class LoadFigures:
    """The loader against a bare `COPY FROM STDIN` of the same CSV files (DMS and TMS), same run."""

    files: int
    megabytes: float
    loader_rows: int
    loader_s: float
    bare_rows: int
    bare_s: float
    other_rows: int  # AppFlow JSON Lines (no bare COPY equivalent): loaded, timed apart
    other_s: float
    quarantined: int
    # The same comparison on ONE DMS full-load file of OrderLines with as many rows as the scale has order
    # lines (load_throughput.run_benchmark): throughput without the per-file costs of many small CDC files.
    bulk_rows: int = 0
    bulk_loader_s: float = 0.0
    bulk_bare_s: float = 0.0
    # Storage reads (MB, page-cache misses) during the bare COPY and the loader, each started with the
    # files read once (load_throughput.compare_on_landing): None where the system does not say.
    bare_storage_mb: float | None = None
    loader_storage_mb: float | None = None

    @property
    def loader_rows_per_s(self) -> float:
        return self.loader_rows / self.loader_s if self.loader_s else 0.0

    @property
    def bare_rows_per_s(self) -> float:
        return self.bare_rows / self.bare_s if self.bare_s else 0.0

    @property
    def ratio(self) -> float:
        return self.loader_rows_per_s / self.bare_rows_per_s if self.bare_rows_per_s else 0.0

    @property
    def bulk_ratio(self) -> float | None:
        return self.bulk_bare_s / self.bulk_loader_s if self.bulk_loader_s else None


@dataclass
class BuildFigures:
    full_s: float  # the nightly build (`dbt build --selector nightly`: everything) of a fresh database
    full_nodes: int  # models, snapshots, seeds and tests it ran
    aging_s: float  # set-up, not a cost: raw _loaded_at spread over the simulated days (see ladder.py)
    change_records: int  # raw records in the change batch
    change_pct: float  # of the records loaded before it
    change_order_lines: int  # OrderLines records in it
    change_minutes: float  # minutes of DMS CDC it covers
    change_load_s: float
    incremental_s: float  # the production frequent cycle's build after the change batch (frequent_command)
    lookback_minutes: int
    full_detail: dict = field(default_factory=dict)  # from run_results.json: time per node type, slowest nodes
    incremental_detail: dict = field(default_factory=dict)
    nightly_s: float | None = None  # `dbt build --selector nightly` (every test on every row) after the frequent cycle
    nightly_detail: dict = field(default_factory=dict)
    frequent_command: str = ""  # what the incremental measure ran
    frequent_selection: str = ""  # why `unify cycle frequent` chose that build (unify/cycle_selection.py)
    test_window_hours: int | None = None

    @property
    def ratio(self) -> float:
        return self.incremental_s / self.full_s if self.full_s else 0.0

    @property
    def nightly_ratio(self) -> float | None:
        return self.nightly_s / self.full_s if self.nightly_s and self.full_s else None

    @staticmethod
    def test_share(detail: dict) -> float | None:
        """Data and unit tests' share of a build's node time (summed over dbt's threads), in percent."""
        share = detail.get("test_share") if detail else None
        return None if share is None else 100 * share


@dataclass
class LatencyFigures:
    """A new DMS CDC file landed -> visible in fct_orders and in the reporting model (seconds from landing)."""

    cycle: str  # what ran: the load and the dbt selection
    files: int
    new_orders: int
    land_s: float  # writing the files into the landing zone
    loaded_s: float  # load committed
    fct_visible_s: float | None  # first poll that saw every new order in fct_orders
    rpt_visible_s: float | None  # first poll that saw them counted in rpt_operations_health_daily
    build_done_s: float  # the dbt build (models and their tests) finished
    build_nodes: int | None = None  # nodes the build ran (run_results.json): what the selector really builds

    @property
    def total_s(self) -> float | None:
        if self.fct_visible_s is None or self.rpt_visible_s is None:
            return None
        return max(self.fct_visible_s, self.rpt_visible_s)


@dataclass
class ConcurrencyLevel:
    sessions: int
    users: int  # distinct login roles among the sessions
    roles: dict[str, int]  # access role -> sessions
    queries: int
    errors: int
    p50_s: float
    p95_s: float
    max_s: float
    dashboard_p95_s: float  # one dashboard view: its queries one after another in one session
    seconds: float
    first_error: str | None = None
    per_query_p95_s: dict[str, float] = field(default_factory=dict)  # each dashboard query's own p95, slowest first
    first_view_p95_s: float | None = None  # the queries of each session's first view (a new connection)
    later_views_p95_s: float | None = None  # the queries of its later views (None: one view per session)


@dataclass
class ScaleResult:
    scale: str
    scale_value: float
    database: str
    days: int = 7  # of simulated history
    simulate: SimulateFigures | None = None
    load: LoadFigures | None = None
    build: BuildFigures | None = None
    latency: LatencyFigures | None = None
    concurrency: list[ConcurrencyLevel] = field(default_factory=list)
    rls: str = ""  # how row-level security was on while the dashboards' queries ran
    # query -> {"all_rows": n (dbt's superuser), <project role>: (fewest, most) rows among its people, or
    # None when the role is not granted the table the query reads}
    rows_seen: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0
    load_average: tuple[float, float] | None = None  # the machine's 1-minute load at the start and the end
    error: str | None = None

    def level(self, sessions: int) -> ConcurrencyLevel | None:
        return next((c for c in self.concurrency if c.sessions == sessions), None)


@dataclass
class BenchRun:
    started_at: str
    machine: dict
    command: str
    quick: bool
    options: dict
    scales: list[ScaleResult] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        for scale, result in zip(data["scales"], self.scales):
            if result.load:
                scale["load"].update(loader_rows_per_s=round(result.load.loader_rows_per_s),
                                     bare_rows_per_s=round(result.load.bare_rows_per_s),
                                     ratio=round(result.load.ratio, 3), bulk_ratio=result.load.bulk_ratio)
            if result.build:
                scale["build"]["ratio"] = round(result.build.ratio, 3)
                scale["build"]["nightly_ratio"] = (None if result.build.nightly_ratio is None
                                                   else round(result.build.nightly_ratio, 3))
            if result.latency:
                scale["latency"]["total_s"] = result.latency.total_s
        data["measures"] = [
            {"key": m.key, "label": m.label, "unit": m.unit, "goal": m.goal_text(self.largest()),
             "values": {s.scale: m.value(s) for s in self.scales}, "exponent": exponent(self.scales, m.value),
             "exponent_two_largest": exponent(two_largest(self.scales), m.value),
             "met": m.met(self.largest()) if self.largest() else None}
            for m in MEASURES
        ]
        return data

    def largest(self) -> ScaleResult | None:
        done = [s for s in self.scales if s.error is None and s.simulate]
        return max(done, key=lambda s: s.simulate.order_lines) if done else None


# ------------------------------------------------------------------------------------------ measures
@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    unit: str
    get: Callable[[ScaleResult], float | None]
    goal: tuple[str, float] | None = None  # ("<=", 2.0) or (">=", 0.7), judged at the largest scale
    digits: int = 1
    goal_at: tuple[tuple[str, tuple[str, float]], ...] = ()  # (rung, goal) where a rung's goal differs

    def goal_for(self, scale: ScaleResult | None) -> tuple[str, float] | None:
        """The goal at this rung (issue #18 sets some per rung, e.g. the frequent cycle at xlarge)."""
        return dict(self.goal_at).get(scale.scale, self.goal) if scale is not None else self.goal

    def goal_text(self, scale: ScaleResult | None) -> str | None:
        goal = self.goal_for(scale)
        return f"{goal[0]} {goal[1]:g}" if goal else None

    def value(self, scale: ScaleResult) -> float | None:
        try:
            value = self.get(scale)
        except AttributeError:  # a step that did not run at this scale
            return None
        return None if value is None else round(float(value), 4)

    def met(self, scale: ScaleResult) -> bool | None:
        value = self.value(scale)
        goal = self.goal_for(scale)
        if goal is None or value is None:
            return None
        op, limit = goal
        return value <= limit if op == "<=" else value >= limit


def _level(n: int, attr: str) -> Callable[[ScaleResult], float | None]:
    def get(s: ScaleResult) -> float | None:
        level = s.level(n)
        return None if level is None else getattr(level, attr)
    return get


# Goals: issue #18's, judged at the largest rung of the run (large unless xlarge ran).
MEASURES: tuple[Measure, ...] = (
    Measure("order_lines", "order lines simulated", "lines", lambda s: s.simulate.order_lines, digits=0),
    Measure("records", "source records landed", "records", lambda s: s.simulate.records, digits=0),
    Measure("simulate_s", "simulate: time", "s", lambda s: s.simulate.seconds),
    Measure("simulate_peak_mb", "simulate: peak memory", "MB", lambda s: s.simulate.peak_rss_mb, digits=0),
    Measure("load_rows_per_s", "load: loader rows/s (DMS+TMS CSV)", "rows/s", lambda s: s.load.loader_rows_per_s,
            digits=0),
    Measure("bare_rows_per_s", "load: bare COPY FROM STDIN rows/s", "rows/s", lambda s: s.load.bare_rows_per_s,
            digits=0),
    Measure("load_ratio", "load: loader / bare COPY", "ratio", lambda s: s.load.ratio, (">=", 0.9), digits=2),
    Measure("bulk_load_ratio", "load, one big full-load file: loader / bare COPY", "ratio",
            lambda s: s.load.bulk_ratio, (">=", 0.9), digits=2),
    Measure("days", "days of history", "days", lambda s: s.days, digits=0),
    Measure("full_build_s", "dbt build, full", "s", lambda s: s.build.full_s),
    Measure("full_test_share", "tests' share of the full build's node time", "%",
            lambda s: BuildFigures.test_share(s.build.full_detail), digits=0),
    Measure("change_pct", "change batch, % of records", "%", lambda s: s.build.change_pct, digits=2),
    Measure("incremental_build_s", "dbt build, frequent cycle after the change", "s",
            lambda s: s.build.incremental_s),
    Measure("incremental_ratio", "frequent cycle / full build", "ratio", lambda s: s.build.ratio, ("<=", 0.25),
            digits=2, goal_at=(("xlarge", ("<=", 0.15)),)),
    Measure("incremental_test_share", "tests' share of the frequent cycle's node time", "%",
            lambda s: BuildFigures.test_share(s.build.incremental_detail), digits=0),
    Measure("nightly_build_s", "dbt build, nightly after the frequent cycle", "s", lambda s: s.build.nightly_s),
    Measure("nightly_ratio", "nightly / full build", "ratio", lambda s: s.build.nightly_ratio, digits=2),
    Measure("latency_s", "end to end: CDC file landed -> in fct_orders and reporting", "s",
            lambda s: s.latency.total_s, ("<=", 15.0)),
    Measure("p50_1", "dashboard queries p50, 1 session", "s", _level(1, "p50_s"), digits=3),
    Measure("p95_1", "dashboard queries p95, 1 session", "s", _level(1, "p95_s"), digits=3),
    Measure("p50_10", "dashboard queries p50, 10 sessions", "s", _level(10, "p50_s"), digits=3),
    Measure("p95_10", "dashboard queries p95, 10 sessions", "s", _level(10, "p95_s"), digits=3),
    Measure("p50_100", "dashboard queries p50, 100 sessions", "s", _level(100, "p50_s"), digits=3),
    Measure("p95_100", "dashboard queries p95, 100 sessions", "s", _level(100, "p95_s"), ("<=", 0.15), digits=3),
    Measure("dashboard_p95_100", "dashboard view p95, 100 sessions", "s", _level(100, "dashboard_p95_s"),
            ("<=", 0.5), digits=3),
    Measure("errors_100", "query errors, 100 sessions", "errors", _level(100, "errors"), ("<=", 0), digits=0),
)


def two_largest(scales: list[ScaleResult]) -> list[ScaleResult]:
    done = [s for s in scales if s.simulate is not None and s.simulate.order_lines > 0]
    return sorted(done, key=lambda s: s.simulate.order_lines)[-2:]


def exponent(scales: list[ScaleResult], get: Callable[[ScaleResult], float | None]) -> float | None:
    """Least-squares slope of log(cost) on log(order lines) over the scales with a positive cost."""
    points = []
    for s in scales:
        if s.simulate is None or s.simulate.order_lines <= 0:
            continue
        value = get(s)
        if value is not None and value > 0:
            points.append((math.log(s.simulate.order_lines), math.log(value)))
    if len({x for x, _ in points}) < 2:
        return None
    xs, ys = zip(*points)
    return round(statistics.linear_regression(xs, ys).slope, 3)


# ------------------------------------------------------------------------------------------ markdown
def markdown_table(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    """A GitHub-flavoured Markdown table, one line per row; columns whose index is in `right` are
    right-aligned (numbers). Cells are already-formatted text; a `|` inside one is escaped.

    Hand-written because no installed library writes Markdown tables: tabulate (the usual choice) is
    not a dependency, and agate's print_table (installed with dbt) prints a console preview with no
    alignment row that guesses cell types ("yes" becomes True) and truncates wide cells.
    """
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    if any(len(row) != len(header) for row in rows):
        raise ValueError(f"every row needs {len(header)} cells")
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    return [line(header), line(rule), *(line(row) for row in rows)]


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "–"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def markdown(run: BenchRun) -> str:
    scales = run.scales
    largest = run.largest()
    frequent = next((s.build.frequent_command for s in scales if s.build and s.build.frequent_command), "")
    nightly = run.options.get("nightly") or "dbt build"
    lines = [
        f"Benchmark of {run.started_at} on {run.machine.get('description', '?')}",
        f"Command: `{run.command}`" + (" (quick: CI-size figures, not for the README)" if run.quick else ""),
        "",
        f"Builds: *full* = `{nightly}` of the fresh database; *frequent cycle* = the production load cycle's build"
        + (f", `{frequent}`" if frequent else "")
        + " (tests on the large incremental models check the rows loaded within the window and their keys across the "
        "whole table; whole-history reconciliations, unit tests and finance's monthly models wait for the nightly "
        f"build); *nightly* = `{nightly}` (everything, every test on every row). The frequent cycle and the nightly "
        f"build run after the change batch, with the production incremental lookback "
        f"({run.options.get('lookback_minutes', 10)} min).",
        "",
    ]
    header = ["measure", *(s.scale for s in scales), "growth b, ladder (cost ~ lines^b)", "b, two largest",
              "x per year at +30%", "goal (largest scale)", "met"]
    rows = []
    top = two_largest(scales)
    for m in MEASURES:
        fitted = m.key not in ("order_lines", "change_pct", "days")
        b = exponent(scales, m.value) if fitted else None
        b2 = exponent(top, m.value) if fitted else None
        met = m.met(largest) if largest else None
        rows.append([f"{m.label} ({m.unit})", *(_fmt(m.value(s), m.digits) for s in scales),
                     _fmt(b, 2), _fmt(b2, 2), _fmt(None if b2 is None else YEARLY_GROWTH ** b2, 2),
                     m.goal_text(largest) or "", "" if met is None else ("yes" if met else "NO")])
    lines += markdown_table(header, rows, right=set(range(1, len(scales) + 4)))
    lines.append("")
    for s in scales:
        lines.extend(_details(s))
    return "\n".join(lines).rstrip() + "\n"


def _details(s: ScaleResult) -> list[str]:
    load = (f", machine load average {s.load_average[0]:.1f} at the start, {s.load_average[1]:.1f} at the end"
            if s.load_average else "")
    out = [f"**{s.scale}** (scale {s.scale_value:g} over {s.days} days, database `{s.database}`, {s.seconds:,.0f} s "
           f"in all{load})"]
    if s.error:
        out.append(f"- FAILED: {s.error}")
    if s.simulate:
        sim = s.simulate
        out.append(f"- simulated {sim.days} days: {sim.orders:,} orders, {sim.order_lines:,} order lines, "
                   f"{sim.records:,} source records in {sim.files:,} files ({sim.megabytes:,.0f} MB)")
    if s.load:
        ld = s.load
        out.append(f"- load: {ld.loader_rows:,} CSV rows in {ld.loader_s:.1f} s (bare COPY {ld.bare_rows:,} rows in "
                   f"{ld.bare_s:.1f} s) from {ld.files:,} files, {ld.megabytes:,.0f} MB; AppFlow JSON "
                   f"{ld.other_rows:,} rows in {ld.other_s:.1f} s; quarantined {ld.quarantined}; one full-load file "
                   f"of {ld.bulk_rows:,} OrderLines rows: loader {ld.bulk_loader_s:.2f} s, bare COPY "
                   f"{ld.bulk_bare_s:.2f} s"
                   + (f"; read from storage, not the page cache: bare COPY {ld.bare_storage_mb:,.0f} MB, loader "
                      f"{ld.loader_storage_mb:,.0f} MB" if ld.bare_storage_mb is not None
                      and ld.loader_storage_mb is not None else ""))
    if s.build:
        b = s.build
        nightly = f", then the nightly build {b.nightly_s:.1f} s" if b.nightly_s is not None else ""
        out.append(f"- dbt build: full {b.full_s:.1f} s ({b.full_nodes} nodes); change batch {b.change_records:,} "
                   f"records ({b.change_pct:.2f}%, {b.change_order_lines:,} order lines, {b.change_minutes:.0f} "
                   f"minutes of DMS CDC) loaded in {b.change_load_s:.1f} s, then the frequent cycle "
                   f"{b.incremental_s:.1f} s (`{b.frequent_command or 'dbt build'}`"
                   + (f": {b.frequent_selection}" if b.frequent_selection else "") + f"){nightly}, with a "
                   f"{b.lookback_minutes} min lookback (history's load times spread over the simulated days: set-up "
                   f"{b.aging_s:.1f} s)")
        for kind, detail in (("full", b.full_detail), ("frequent cycle", b.incremental_detail),
                             ("nightly", b.nightly_detail)):
            if detail:
                parts = ", ".join(f"{k} {v:.1f} s" for k, v in detail.get("seconds_by_type", {}).items())
                counts = ", ".join(f"{n} {k}" for k, n in detail.get("nodes_by_type", {}).items())
                slowest = ", ".join(f"{n} {t:.1f} s" for n, t in detail.get("slowest", []))
                share = detail.get("test_share")
                out.append(f"  - {kind} build: dbt's elapsed {detail.get('elapsed_s', 0):.1f} s; nodes: {counts}; "
                           f"node time by type (summed over dbt's threads): {parts}"
                           + ("" if share is None else f" (tests {100 * share:.0f}%)") + f"; slowest: {slowest}")
    if s.latency:
        lt = s.latency
        out.append(f"- end to end: {lt.files} CDC file(s) with {lt.new_orders} new order(s): landed "
                   f"{lt.land_s:.2f} s, loaded {lt.loaded_s:.1f} s, in fct_orders {_fmt(lt.fct_visible_s, 1)} s, "
                   f"in rpt_operations_health_daily {_fmt(lt.rpt_visible_s, 1)} s, build (with tests) done "
                   f"{lt.build_done_s:.1f} s ({_fmt(lt.build_nodes, 0)} nodes); cycle: {lt.cycle}")
    if s.rls:
        out.append(f"- row-level security: {s.rls}")
    for name, seen in sorted(s.rows_seen.items()):
        roles = ", ".join(f"{r.removeprefix('unify_')} " + ("not granted" if v is None else f"{v[0]:,}"
                          + (f"-{v[1]:,}" if v[1] != v[0] else ""))
                          for r, v in sorted((k, v) for k, v in seen.items() if k != "all_rows"))
        out.append(f"  - rows of {name}: all {seen.get('all_rows', 0):,}; as {roles}")
    for c in s.concurrency:
        roles = ", ".join(f"{r.removeprefix('unify_')} {n}" for r, n in sorted(c.roles.items()))
        out.append(f"- {c.sessions} session(s) as {c.users} {'person' if c.users == 1 else 'people'} ({roles}): {c.queries} queries in "
                   f"{c.seconds:.1f} s, {c.errors} errors, p50 {c.p50_s:.3f} s, p95 {c.p95_s:.3f} s, max "
                   f"{c.max_s:.3f} s, dashboard view p95 {c.dashboard_p95_s:.3f} s"
                   + (f"; first error: {c.first_error}" if c.first_error else ""))
        if c.first_view_p95_s is not None:
            out.append(f"  - p95 of the queries of each session's first view (a new connection: cold catalog caches) "
                       f"{c.first_view_p95_s:.3f} s, of its later views' "
                       + ("–" if c.later_views_p95_s is None else f"{c.later_views_p95_s:.3f} s"))
        if c.per_query_p95_s:
            out.append("  - p95 per query: " + ", ".join(f"{name} {p95:.3f} s" for name, p95 in c.per_query_p95_s.items()))
    out.append("")
    return out
