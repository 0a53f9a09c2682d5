"""Column-level lineage for the catalog: every model and snapshot column traced back to raw source columns.

dbt docs shows which *models* feed a model; this answers the finer question "where does this column
come from?". It reads the artifacts `dbt docs generate` leaves in the target folder:

- manifest.json: each model's and snapshot's **compiled** SQL (macros expanded, refs resolved to
  relations) and the relation every node, source and seed lives in;
- catalog.json: the columns every relation really has in the warehouse (the schema sqlglot needs to
  expand `select *`); without it, the columns documented in the manifest stand in.

For each node, sqlglot qualifies the compiled SQL against that schema and `sqlglot.lineage` follows each
output column through CTEs, subqueries, joins, unions and aggregates down to the relations the query
reads. A relation that is another dbt node is followed into that node's SQL in turn, until the walk
reaches a source (a raw table: `raw_<system>.<table>.<column>`), a seed, or an expression that reads no
column (a constant, or `count(*)`, whose value comes from the *rows* of the tables it counts). A
snapshot's compiled SQL is its select from staging; the columns dbt adds (dbt_scd_id, dbt_updated_at,
dbt_valid_from, dbt_valid_to) are traced to the snapshot's unique_key/updated_at config.

What lineage means here: the columns whose *values* flow into the column. Columns used only to filter
or join (WHERE, JOIN ... ON) are not listed; the dbt docs DAG shows those model-level dependencies.

Output (format documented in `LINEAGE_FORMAT_DOC` and README "Data catalog"):
- target/column_lineage.json
- target/lineage.html: a static, searchable page (no network access), linked from the docs overview.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope

if TYPE_CHECKING:
    from loaders.config import Settings
    from unify.dbt_runner import DbtRun

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
LINEAGE_JSON = "column_lineage.json"
LINEAGE_HTML = "lineage.html"
# Layers whose columns the coverage figure counts (what dashboards and power users read).
COVERED_LAYERS = ("marts", "reporting")
LAYER_ORDER = ("reporting", "marts", "intermediate", "snapshots", "staging", "seeds")
SNAPSHOT_META_COLUMNS = ("dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to")

LINEAGE_FORMAT_DOC = """\
column_lineage.json (format_version 1):
  {"format": "unify.column_lineage", "format_version": 1, "generated_at": ISO-8601 UTC,
   "dialect": sqlglot dialect of the compiled SQL, "sqlglot_version": ...,
   "coverage": {"layers": ["marts", "reporting"], "columns": N, "resolved": N, "unresolved": [
       {"column": "<model>.<column>", "kind": ..., "reason": ...}]},
   "nodes": {"<model, snapshot or seed name>": {
       "unique_id": dbt unique_id, "resource_type": "model"|"snapshot"|"seed", "layer": ...,
       "relation": warehouse relation, "docs_url": "index.html#!/<type>/<unique_id>", "description": ...,
       "columns": {"<column>": {
           "kind": "source"   (reaches at least one raw source column)
                 | "seed"     (reaches seed columns only)
                 | "row_count" (a count of rows: see raw_row_counts)
                 | "constant" (reads no column: literal, run-time parameter, generated series)
                 | "snapshot_metadata" (dbt_scd_id, dbt_valid_from, ... added by dbt snapshot)
                 | "unresolved" (see unresolved),
           "description": the column's description,
           "raw_columns": ["raw_<system>.<table>.<column>", ...]  upstream raw source columns,
           "seed_columns": ["<seed>.<column>", ...]               upstream seed columns,
           "raw_row_counts": ["raw_<system>.<table>", "<seed>", ...] tables whose rows a count(*) counts,
           "upstream": ["<node>.<column>", ...]   direct parents (one hop: columns of the nodes it reads),
           "hops": ["<node>.<column>", ...]       every intermediate model/snapshot column on the way,
           "constants": ["<SQL>", ...]            expressions on the way that read no column,
           "unresolved": ["<reason>", ...],       what could not be traced, and why,
           "note": "..."                           (snapshot metadata: how dbt fills the column)}}}},
   "raw_tables": {"raw_<system>.<table>": {"unique_id": "source.unify.<system>.<table>",
       "source": "<system>.<table>", "docs_url": ..., "description": ...}}}
"""


class LineageError(Exception):
    """The lineage could not be built: the message names the artifact or node and the reason."""


@dataclass(frozen=True, order=True)
class ColumnKey:
    """One column of one dbt node (model, snapshot, seed or source), by unique_id."""

    node: str
    column: str


@dataclass
class DirectLineage:
    """What one column reads inside its own node's SQL (one hop)."""

    upstream: set[ColumnKey] = field(default_factory=set)
    row_origins: set[str] = field(default_factory=set)  # unique_ids whose rows a count(*) counts
    constants: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class ColumnLineage:
    """A column's full lineage, as written to column_lineage.json."""

    kind: str
    description: str
    raw_columns: list[str]
    seed_columns: list[str]
    raw_row_counts: list[str]
    upstream: list[str]
    hops: list[str]
    constants: list[str]
    unresolved: list[str]
    note: str = ""


@dataclass(frozen=True)
class Unresolved:
    column: str
    kind: str
    reason: str


@dataclass
class LineageReport:
    """Coverage of the mart and reporting columns, and where the files went."""

    columns: int
    resolved: int
    unresolved: list[Unresolved]
    nodes: int
    seconds: float
    json_path: Path | None = None
    html_path: Path | None = None

    def summary(self) -> str:
        pct = 100.0 * self.resolved / self.columns if self.columns else 0.0
        return (f"column lineage: {self.resolved}/{self.columns} mart and reporting columns ({pct:.1f}%) "
                f"resolve to raw source or seed columns; {len(self.unresolved)} do not (listed with the "
                f"reason in {LINEAGE_JSON}); {self.nodes} nodes traced in {self.seconds:.1f} s")


# --------------------------------------------------------------------------------------------------
# Artifacts


def _relation_key(relation: str | None, dialect: str) -> tuple[str, ...] | None:
    if not relation:
        return None
    table = exp.to_table(relation, dialect=dialect)
    return _table_key(table)


def _table_key(table: exp.Table) -> tuple[str, ...]:
    parts = [p for p in (table.catalog, table.db, table.name) if p]
    return tuple(p.lower() for p in parts)


class Project:
    """The manifest (+ catalog) of one `dbt docs generate`, indexed for lineage."""

    def __init__(self, manifest: dict, catalog: dict | None):
        self.manifest = manifest
        self.catalog = catalog or {}
        adapter = manifest.get("metadata", {}).get("adapter_type", "postgres")
        self.dialect = adapter  # dbt's adapter names are sqlglot's dialect names
        self.nodes: dict[str, dict] = {}
        for uid, node in manifest.get("nodes", {}).items():
            if node.get("resource_type") in ("model", "snapshot", "seed"):
                self.nodes[uid] = node
        for uid, source in manifest.get("sources", {}).items():
            self.nodes[uid] = source
        self.by_relation: dict[tuple[str, ...], str] = {}
        for uid, node in self.nodes.items():
            key = _relation_key(node.get("relation_name"), self.dialect)
            if key:
                self.by_relation[key] = uid
                self.by_relation.setdefault(key[-2:], uid)  # schema.name, for SQL without the database
        self.columns: dict[str, list[str]] = {uid: self._columns(uid) for uid in self.nodes}
        self.schema = self._schema()

    @classmethod
    def from_target(cls, target_path: Path) -> "Project":
        manifest_path = target_path / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
        except FileNotFoundError:
            raise LineageError(f"{manifest_path}: not found; run `dbt docs generate` first") from None
        except ValueError as err:
            raise LineageError(f"{manifest_path}: not valid JSON ({err})") from None
        catalog_path = target_path / "catalog.json"
        catalog = None
        if catalog_path.exists():
            try:
                catalog = json.loads(catalog_path.read_text())
            except ValueError as err:
                raise LineageError(f"{catalog_path}: not valid JSON ({err})") from None
        else:
            log.warning("%s not found: using the manifest's documented columns as the schema", catalog_path)
        return cls(manifest, catalog)

    def _columns(self, uid: str) -> list[str]:
        """The relation's columns in warehouse order (catalog), else the documented ones (manifest)."""
        section = "sources" if uid.startswith("source.") else "nodes"
        entry = self.catalog.get(section, {}).get(uid)
        if entry and entry.get("columns"):
            cols = sorted(entry["columns"].values(), key=lambda c: c.get("index", 0))
            return [c["name"].lower() for c in cols]
        return [name.lower() for name in self.nodes[uid].get("columns", {})]

    def _schema(self) -> dict:
        schema: dict = {}
        for uid, node in self.nodes.items():
            key = _relation_key(node.get("relation_name"), self.dialect)
            if not key or len(key) != 3 or not self.columns[uid]:
                continue
            database, schema_name, name = key
            # Types do not matter for lineage; names do (they expand `select *`).
            schema.setdefault(database, {}).setdefault(schema_name, {})[name] = {
                col: "unknown" for col in self.columns[uid]
            }
        return schema

    def name(self, uid: str) -> str:
        node = self.nodes[uid]
        if uid.startswith("source."):
            return f"{node['schema']}.{node.get('identifier') or node['name']}".lower()
        return node["name"]

    def layer(self, uid: str) -> str:
        node = self.nodes[uid]
        kind = node.get("resource_type")
        if kind == "source":
            return "raw"
        if kind == "seed":
            return "seeds"
        if kind == "snapshot":
            return "snapshots"
        fqn = node.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "models"

    def label(self, key: ColumnKey) -> str:
        return f"{self.name(key.node)}.{key.column}"

    def description(self, key: ColumnKey) -> str:
        for name, meta in self.nodes[key.node].get("columns", {}).items():
            if name.lower() == key.column:
                return (meta.get("description") or "").strip()
        return ""


# --------------------------------------------------------------------------------------------------
# One hop: a node's columns from its compiled SQL


def _is_row_count(expression: exp.Expression) -> bool:
    """An aggregate that reads no column: count(*), count(1)."""
    return any(isinstance(agg, exp.Count) for agg in expression.find_all(exp.AggFunc)) and not any(
        True for _ in expression.find_all(exp.Column)
    )


def _from_sources(select: exp.Expression) -> list[exp.Expression]:
    """The relations that decide a SELECT's rows: FROM and inner joins (outer-joined ones only add columns)."""
    if not isinstance(select, exp.Select):
        return []
    found: list[exp.Expression] = []
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is not None:
        found.append(from_.this)
    for join in select.args.get("joins") or []:
        side = (join.side or "").upper()
        kind = (join.kind or "").upper()
        if side in ("LEFT", "RIGHT", "FULL") or kind in ("SEMI", "ANTI"):
            continue
        found.append(join.this)
    return found


class NodeLineage:
    """Direct (one-hop) lineage of every column of one model or snapshot, from its compiled SQL."""

    def __init__(self, project: Project, uid: str):
        self.project = project
        self.uid = uid
        self.node = project.nodes[uid]
        self.columns: dict[str, DirectLineage] = {}
        self.rows: set[str] = set()  # unique_ids whose rows decide this node's rows
        self._ctes: dict[str, exp.Expression] = {}
        self._build()

    def _build(self) -> None:
        sql = self.node.get("compiled_code")
        if not sql:
            reason = "no compiled SQL in the manifest (run `dbt docs generate` or `dbt compile`)"
            for column in self.project.columns[self.uid]:
                self.columns[column] = DirectLineage(unresolved=[reason])
            return
        try:
            expression = sqlglot.parse_one(sql, dialect=self.project.dialect)
            expression = qualify(expression, dialect=self.project.dialect, schema=self.project.schema,
                                 validate_qualify_columns=False, identify=False)
            scope = build_scope(expression)
            if scope is None:
                raise SqlglotError("not a query")
            nodes = lineage(None, expression, self.project.schema, dialect=self.project.dialect,
                            scope=scope, copy=False)
        except SqlglotError as err:
            reason = f"sqlglot could not analyse the compiled SQL of {self.node['name']}: {err}"
            log.warning(reason)
            for column in self.project.columns[self.uid]:
                self.columns[column] = DirectLineage(unresolved=[reason])
            return
        for cte in expression.find_all(exp.CTE):
            self._ctes[cte.alias_or_name.lower()] = cte.this
        self.rows = self._rows_of(expression, set())
        for name, root in nodes.items():
            self.columns[name.lower()] = self._direct(root)
        if self.node.get("resource_type") == "snapshot":
            self._snapshot_columns()
        for column in self.project.columns[self.uid]:
            if column not in self.columns:
                self.columns[column] = DirectLineage(
                    unresolved=[f"the column is in the warehouse but not in {self.node['name']}'s compiled SQL"])

    def _direct(self, root: Node) -> DirectLineage:
        direct = DirectLineage()
        for node in root.walk():
            if node.downstream:
                continue
            if isinstance(node.expression, exp.Table):
                column = node.name.split(".")[-1].lower()
                uid = self._relation_uid(node.expression)
                if uid is None:
                    direct.unresolved.append(f"reads {node.expression.sql(dialect=self.project.dialect)}, "
                                             f"which is not a dbt source, seed, model or snapshot")
                elif uid != self.uid:
                    direct.upstream.add(ColumnKey(uid, column))
                continue
            inner = node.expression.this if isinstance(node.expression, exp.Alias) else node.expression
            if isinstance(inner, exp.Star) or isinstance(node.expression, exp.Star):
                continue
            if _is_row_count(inner):
                origins = set()
                for source in _from_sources(node.source):
                    origins |= self._rows_of_source(source, set())
                direct.row_origins |= origins
                direct.constants.append(inner.sql(dialect=self.project.dialect))
            elif any(True for _ in inner.find_all(exp.Column)):
                direct.unresolved.append(
                    f"{inner.sql(dialect=self.project.dialect)} reads a column sqlglot cannot attribute to a "
                    f"relation (e.g. a table function's output)")
            else:
                direct.constants.append(inner.sql(dialect=self.project.dialect))
        return direct

    def _relation_uid(self, table: exp.Table) -> str | None:
        key = _table_key(table)
        return self.project.by_relation.get(key) or self.project.by_relation.get(key[-2:])

    def _rows_of(self, query: exp.Expression, seen: set[str]) -> set[str]:
        """unique_ids of the dbt nodes whose rows decide the rows of `query` (CTEs followed)."""
        if isinstance(query, exp.SetOperation):
            return self._rows_of(query.left, seen) | self._rows_of(query.right, seen)
        if isinstance(query, exp.Subquery):
            return self._rows_of(query.this, seen)
        found: set[str] = set()
        for source in _from_sources(query):
            found |= self._rows_of_source(source, seen)
        return found

    def _rows_of_source(self, source: exp.Expression, seen: set[str]) -> set[str]:
        if isinstance(source, exp.Subquery):
            return self._rows_of(source.this, seen)
        if isinstance(source, exp.Table):
            name = source.name.lower()
            if not source.db and name in self._ctes:
                if name in seen:
                    return set()
                return self._rows_of(self._ctes[name], seen | {name})
            uid = self._relation_uid(source)
            return {uid} if uid and uid != self.uid else set()
        return set()

    def _snapshot_columns(self) -> None:
        config = self.node.get("config", {})
        strategy = config.get("strategy")
        unique_key = config.get("unique_key")
        keys = [unique_key] if isinstance(unique_key, str) else list(unique_key or [])
        updated_at = (config.get("updated_at") or "").lower()
        upstream_of = {}
        for column in [*keys, updated_at]:
            if column and column.lower() in self.columns:
                upstream_of[column.lower()] = self.columns[column.lower()].upstream
        key_cols = set().union(*(upstream_of.get(k.lower(), set()) for k in keys)) if keys else set()
        if strategy == "timestamp" and updated_at:
            changed = upstream_of.get(updated_at, set())
            notes = {
                "dbt_scd_id": (key_cols | changed, f"dbt snapshot: hash of {', '.join(keys)} and {updated_at}"),
                "dbt_updated_at": (changed, f"dbt snapshot: the version's {updated_at}"),
                "dbt_valid_from": (changed, f"dbt snapshot: the version's {updated_at}"),
                "dbt_valid_to": (changed, f"dbt snapshot: the next version's {updated_at}; the run time when "
                                          f"the key disappears (hard_deletes: invalidate)"),
            }
        else:
            checked = ", ".join(config.get("check_cols") or []) if strategy == "check" else "its columns"
            run = f"the snapshot run's time (check strategy: a new version when {checked} change)"
            notes = {
                "dbt_scd_id": (key_cols, f"dbt snapshot: hash of {', '.join(keys)} and {run}"),
                "dbt_updated_at": (set(), f"dbt snapshot: {run}"),
                "dbt_valid_from": (set(), f"dbt snapshot: {run}"),
                "dbt_valid_to": (set(), "dbt snapshot: the next version's run time, or the run time when the "
                                        "key disappears (hard_deletes: invalidate)"),
            }
        for column, (upstream, note) in notes.items():
            self.columns[column] = DirectLineage(upstream=set(upstream), note=note)


# --------------------------------------------------------------------------------------------------
# The whole project: hops closed down to sources and seeds


class ProjectLineage:
    def __init__(self, project: Project):
        self.project = project
        self._nodes: dict[str, NodeLineage] = {}
        self._closure: dict[ColumnKey, dict] = {}
        self._rows: dict[str, set[str]] = {}

    def node(self, uid: str) -> NodeLineage:
        if uid not in self._nodes:
            self._nodes[uid] = NodeLineage(self.project, uid)
        return self._nodes[uid]

    def direct(self, key: ColumnKey) -> DirectLineage | None:
        kind = self.project.nodes[key.node].get("resource_type")
        if kind in ("source", "seed"):
            return None
        node = self.node(key.node)
        return node.columns.get(key.column) or DirectLineage(
            unresolved=[f"{self.project.name(key.node)} has no column {key.column}"])

    def leaf_rows(self, uid: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """Sources and seeds whose rows decide a node's rows."""
        kind = self.project.nodes[uid].get("resource_type")
        if kind in ("source", "seed"):
            return {uid}
        if uid in self._rows:
            return self._rows[uid]
        found: set[str] = set()
        for parent in self.node(uid).rows:
            if parent not in seen:
                found |= self.leaf_rows(parent, seen | {uid})
        self._rows[uid] = found
        return found

    def closure(self, key: ColumnKey, seen: frozenset[ColumnKey] = frozenset()) -> dict:
        """raw/seed columns, row origins, hops, constants and unresolved reasons of one column."""
        if key in self._closure:
            return self._closure[key]
        result: dict = {"raw": set(), "seed": set(), "rows": set(), "hops": set(), "constants": [],
                        "unresolved": []}
        kind = self.project.nodes[key.node].get("resource_type")
        if kind == "source":
            result["raw"].add(key)
            return result
        if kind == "seed":
            result["seed"].add(key)
            return result
        direct = self.direct(key)
        assert direct is not None
        result["constants"].extend(direct.constants)
        result["unresolved"].extend(f"{self.project.label(key)}: {r}" for r in direct.unresolved)
        for origin in direct.row_origins:
            result["rows"] |= self.leaf_rows(origin)
        for parent in direct.upstream:
            if parent in seen:
                continue
            sub = self.closure(parent, seen | {key})
            if self.project.nodes[parent.node].get("resource_type") not in ("source", "seed"):
                result["hops"].add(parent)
            for name in ("raw", "seed", "rows", "hops"):
                result[name] |= sub[name]
            result["constants"].extend(c for c in sub["constants"] if c not in result["constants"])
            result["unresolved"].extend(u for u in sub["unresolved"] if u not in result["unresolved"])
        if not seen:
            self._closure[key] = result
        return result

    def _hop_order(self, key: ColumnKey) -> tuple:
        layer = self.project.layer(key.node)
        return (LAYER_ORDER.index(layer) if layer in LAYER_ORDER else len(LAYER_ORDER), self.project.label(key))

    def column_lineage(self, key: ColumnKey) -> ColumnLineage:
        closed = self.closure(key)
        direct = self.direct(key)
        label = self.project.label
        raw = sorted(label(k) for k in closed["raw"])
        seeds = sorted(label(k) for k in closed["seed"])
        rows = sorted(self.project.name(uid) for uid in closed["rows"])
        if key.column in SNAPSHOT_META_COLUMNS and self.project.nodes[key.node].get("resource_type") == "snapshot":
            kind = "snapshot_metadata"
        elif raw:
            kind = "source"
        elif seeds:
            kind = "seed"
        elif rows:
            kind = "row_count"
        elif closed["constants"] and not closed["unresolved"]:
            kind = "constant"
        else:
            kind = "unresolved"
        return ColumnLineage(
            kind=kind,
            description=self.project.description(key),
            raw_columns=raw,
            seed_columns=seeds,
            raw_row_counts=rows,
            upstream=sorted(label(k) for k in (direct.upstream if direct else set())),
            hops=[label(k) for k in sorted(closed["hops"], key=self._hop_order)],
            constants=list(dict.fromkeys(closed["constants"])),
            unresolved=list(dict.fromkeys(closed["unresolved"])),
            note=direct.note if direct else "",
        )


def _unresolved_reason(lineage_: ColumnLineage) -> str:
    if lineage_.kind == "row_count":
        return f"a count of rows of {', '.join(lineage_.raw_row_counts)} (no single column)"
    if lineage_.kind == "constant":
        return f"reads no column: {'; '.join(lineage_.constants[:3])}"
    if lineage_.kind == "snapshot_metadata":
        return lineage_.note
    return "; ".join(lineage_.unresolved) or "no upstream column found"


def build_lineage(project: Project) -> tuple[dict, LineageReport]:
    """The column_lineage.json document and the coverage report."""
    started = time.monotonic()
    traced = ProjectLineage(project)
    documents: dict[str, dict] = {}
    unresolved: list[Unresolved] = []
    covered = resolved = 0
    uids = [uid for uid, node in project.nodes.items() if node.get("resource_type") in ("model", "snapshot", "seed")]
    uids.sort(key=lambda u: (LAYER_ORDER.index(project.layer(u)) if project.layer(u) in LAYER_ORDER else 99,
                             project.name(u)))
    for uid in uids:
        node = project.nodes[uid]
        layer = project.layer(uid)
        columns: dict[str, dict] = {}
        for column in project.columns[uid]:
            key = ColumnKey(uid, column)
            if node.get("resource_type") == "seed":
                item = ColumnLineage(kind="seed", description=project.description(key), raw_columns=[],
                                     seed_columns=[project.label(key)], raw_row_counts=[], upstream=[],
                                     hops=[], constants=[], unresolved=[], note="seed: reference data in seeds/")
            else:
                item = traced.column_lineage(key)
            columns[column] = asdict(item)
            if layer in COVERED_LAYERS and node.get("resource_type") == "model":
                covered += 1
                if item.raw_columns or item.seed_columns:
                    resolved += 1
                else:
                    unresolved.append(Unresolved(project.label(key), item.kind, _unresolved_reason(item)))
        documents[project.name(uid)] = {
            "unique_id": uid,
            "resource_type": node.get("resource_type"),
            "layer": layer,
            "relation": node.get("relation_name"),
            "docs_url": f"index.html#!/{node.get('resource_type')}/{uid}",
            "description": (node.get("description") or "").strip(),
            "columns": columns,
        }
    report = LineageReport(columns=covered, resolved=resolved, unresolved=unresolved, nodes=len(uids),
                           seconds=time.monotonic() - started)
    document = {
        "format": "unify.column_lineage",
        "format_version": FORMAT_VERSION,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dbt_invocation_id": project.manifest.get("metadata", {}).get("invocation_id"),
        "dialect": project.dialect,
        "sqlglot_version": sqlglot.__version__,
        "coverage": {
            "layers": list(COVERED_LAYERS),
            "columns": covered,
            "resolved": resolved,
            "unresolved": [asdict(u) for u in unresolved],
        },
        "nodes": documents,
        "raw_tables": {
            project.name(uid): {
                "unique_id": uid,
                "source": f"{node['source_name']}.{node['name']}",
                "docs_url": f"index.html#!/source/{uid}",
                "description": (node.get("description") or "").strip(),
            }
            for uid, node in sorted(project.nodes.items()) if node.get("resource_type") == "source"
        },
    }
    return document, report


def generate_docs(settings: "Settings", target_path: Path, *, progress: bool = False) -> tuple["DbtRun", LineageReport]:
    """`dbt docs generate` on the settings' warehouse, then the column lineage next to it: the catalog
    that `unify docs generate` writes and the main job ends with. Raises DbtError or LineageError."""
    from unify.dbt_runner import run_dbt_logged

    docs = run_dbt_logged(["docs", "generate"], settings, target_path=target_path, progress=progress,
                          description="dbt docs generate")
    return docs, write_lineage(target_path)


def write_lineage(target_path: Path) -> LineageReport:
    """Build the lineage from target/manifest.json (+ catalog.json); write column_lineage.json and lineage.html.

    Call it after `dbt docs generate` with the same target folder.
    """
    from unify.catalog.lineage_page import render_page

    target_path = Path(target_path)
    project = Project.from_target(target_path)
    document, report = build_lineage(project)
    json_path = target_path / LINEAGE_JSON
    html_path = target_path / LINEAGE_HTML
    json_path.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")
    html_path.write_text(render_page(document))
    report.json_path, report.html_path = json_path, html_path
    log.debug(report.summary())
    return report
