"""Is the catalog complete? Description coverage of everything the dbt docs site shows.

Reads a manifest.json (after `dbt parse` or `dbt docs generate`) and lists every gap in the project's
own package: a source, source column, model, model column, snapshot, snapshot column, seed, seed column,
macro or exposure without a description; a macro argument (from the macro's real signature, parsed
with dbt's Jinja environment) without a documented description, or a documented argument the macro
does not take; an exposure without an owner or URL; a missing `__overview__` doc block.

Generic tests receive `model` (and `column_name`) from dbt itself: those two arguments of `test_*`
macros need no entry.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PROJECT_PACKAGE = "unify"
DBT_SUPPLIED_TEST_ARGUMENTS = frozenset({"model", "column_name"})
DOCUMENTED_RESOURCES = ("model", "snapshot", "seed")


class CompletenessError(Exception):
    """The manifest could not be read or a macro could not be parsed; the message names which."""


@dataclass(frozen=True)
class Gap:
    """One undocumented thing: `kind` (e.g. "model column"), its name, and what is missing."""

    kind: str
    name: str
    missing: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.missing}"


@dataclass(frozen=True)
class Coverage:
    """Documented / total per kind, and the gaps."""

    totals: dict[str, int]
    gaps: list[Gap]

    def documented(self, kind: str) -> int:
        return self.totals.get(kind, 0) - sum(1 for g in self.gaps if g.kind == kind)

    def summary(self) -> str:
        parts = [f"{self.documented(k)}/{n} {k}s" for k, n in self.totals.items()]
        return "descriptions: " + ", ".join(parts) + (f"; {len(self.gaps)} gap(s)" if self.gaps else "; complete")


def load_manifest(target_path: Path) -> dict:
    path = Path(target_path) / "manifest.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CompletenessError(f"{path}: not found; run `dbt parse` or `dbt docs generate` first") from None
    except ValueError as err:
        raise CompletenessError(f"{path}: not valid JSON ({err})") from None


def _blank(text: str | None) -> bool:
    return not (text or "").strip()


def macro_signature(macro: dict) -> list[str]:
    """Argument names of a manifest macro, from its Jinja source (dbt's environment knows {% test %})."""
    from dbt_common.clients.jinja import get_environment
    from jinja2 import nodes
    from jinja2.exceptions import TemplateSyntaxError

    try:
        tree = get_environment().parse(macro["macro_sql"])
    except TemplateSyntaxError as err:
        raise CompletenessError(f"{macro['unique_id']}: cannot parse its Jinja ({err})") from None
    wanted = f"dbt_macro__{macro['name']}"
    for found in tree.find_all(nodes.Macro):
        if found.name in (wanted, macro["name"]):
            return [arg.name for arg in found.args]
    raise CompletenessError(f"{macro['unique_id']}: no macro named {macro['name']} in its source")


def check_manifest(manifest: dict, package: str = PROJECT_PACKAGE) -> Coverage:
    """Every gap in the package's documentation, and the totals per kind."""
    totals: Counter[str] = Counter()
    gaps: list[Gap] = []

    def need(kind: str, name: str, text: str | None, missing: str = "no description") -> None:
        totals[kind] += 1
        if _blank(text):
            gaps.append(Gap(kind, name, missing))

    for source in manifest.get("sources", {}).values():
        if source.get("package_name") != package:
            continue
        name = f"{source['source_name']}.{source['name']}"
        need("source", name, source.get("description"))
        for column, meta in source.get("columns", {}).items():
            need("source column", f"{name}.{column}", meta.get("description"))
    systems = {s["source_name"]: s.get("source_description") for s in manifest.get("sources", {}).values()
               if s.get("package_name") == package}
    for system, text in sorted(systems.items()):
        need("source system", system, text)

    for node in manifest.get("nodes", {}).values():
        kind = node.get("resource_type")
        if node.get("package_name") != package or kind not in DOCUMENTED_RESOURCES:
            continue
        need(kind, node["name"], node.get("description"))
        for column, meta in node.get("columns", {}).items():
            need(f"{kind} column", f"{node['name']}.{column}", meta.get("description"))

    for macro in manifest.get("macros", {}).values():
        if macro.get("package_name") != package:
            continue
        need("macro", macro["name"], macro.get("description"))
        documented = {a["name"]: a for a in macro.get("arguments", [])}
        signature = macro_signature(macro)
        for arg in signature:
            if macro["name"].startswith("test_") and arg in DBT_SUPPLIED_TEST_ARGUMENTS:
                continue
            meta = documented.get(arg)
            need("macro argument", f"{macro['name']}({arg})", meta.get("description") if meta else None,
                 "no description" if meta else "not documented in the macros yml")
        for arg in documented:
            if arg not in signature:
                totals["macro argument"] += 1
                gaps.append(Gap("macro argument", f"{macro['name']}({arg})",
                                "documented, but the macro takes no such argument"))

    for exposure in manifest.get("exposures", {}).values():
        if exposure.get("package_name") != package:
            continue
        need("exposure", exposure["name"], exposure.get("description"))
        owner = exposure.get("owner") or {}
        if _blank(owner.get("name")) or _blank(owner.get("email")):
            gaps.append(Gap("exposure", exposure["name"], "no owner name and e-mail"))
        if _blank(exposure.get("url")):
            gaps.append(Gap("exposure", exposure["name"], "no URL"))

    overview = manifest.get("docs", {}).get(f"doc.{package}.__overview__")
    need("overview", "__overview__", overview.get("block_contents") if overview else None,
         "no {% docs __overview__ %} block")
    return Coverage(dict(totals), gaps)
