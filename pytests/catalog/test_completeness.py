"""The catalog is complete: every source, model, snapshot, seed, column, macro, macro argument and exposure
is described in the manifest `dbt docs generate` wrote; the overview and every metric have doc blocks;
descriptions reach the warehouse as comments (persist_docs)."""

from __future__ import annotations

import copy
import re

from unify.catalog.completeness import check_manifest, macro_signature

# The metrics DOMAIN.md defines ("Metric definitions"): each has a doc block that columns reuse.
METRIC_DOC_BLOCKS = (
    "shipped_on_time", "delivered_date", "on_time", "in_full", "otif", "is_due", "sla_breach_risk",
    "fulfilment_cycle_hours", "order_to_delivery_days", "ship_month", "contract_in_force", "revenue_usd",
    "cost_usd", "gross_margin_usd", "margin_pct",
)
DASHBOARDS = {"operations_health": "Operations Health", "client_profitability": "Client Profitability"}


def test_every_resource_is_described(catalog_site):
    manifest = catalog_site.manifest()
    coverage = check_manifest(manifest)
    print(coverage.summary())
    assert coverage.gaps == [], "undocumented:\n" + "\n".join(map(str, coverage.gaps))
    # The check saw everything the project has (counted here straight from the manifest).
    own = [n for n in manifest["nodes"].values() if n["package_name"] == "unify"]
    expected = {
        "source": len([s for s in manifest["sources"].values() if s["package_name"] == "unify"]),
        "model": sum(n["resource_type"] == "model" for n in own),
        "snapshot": sum(n["resource_type"] == "snapshot" for n in own),
        "seed": sum(n["resource_type"] == "seed" for n in own),
        "model column": sum(len(n["columns"]) for n in own if n["resource_type"] == "model"),
        "macro": len([m for m in manifest["macros"].values() if m["package_name"] == "unify"]),
        "exposure": len(manifest["exposures"]),
    }
    for kind, count in expected.items():
        assert coverage.totals.get(kind) == count > 0, kind
    # Every column the warehouse really has is documented (catalog.json lists what dbt built).
    catalog = catalog_site.catalog()
    for uid, entry in catalog["nodes"].items():
        documented = {c.lower() for c in manifest["nodes"][uid]["columns"]}
        actual = {c.lower() for c in entry["columns"]}
        assert actual <= documented, f"{uid}: columns without a yml entry: {sorted(actual - documented)}"
    for uid, entry in catalog["sources"].items():
        documented = {c.lower() for c in manifest["sources"][uid]["columns"]}
        assert {c.lower() for c in entry["columns"]} <= documented, uid


def test_the_check_finds_what_is_missing(catalog_site):
    manifest = copy.deepcopy(catalog_site.manifest())
    manifest["nodes"]["model.unify.fct_orders"]["columns"]["is_otif"]["description"] = "  "
    manifest["macros"]["macro.unify.hours_between"]["arguments"] = [
        a for a in manifest["macros"]["macro.unify.hours_between"]["arguments"] if a["name"] != "end_at"]
    manifest["macros"]["macro.unify.keyed_hash"]["arguments"].append({"name": "salt", "description": "x"})
    manifest["exposures"]["exposure.unify.operations_health"]["url"] = None
    manifest["sources"]["source.unify.tms.shipments"]["columns"]["freight_cost"]["description"] = ""
    found = {str(g) for g in check_manifest(manifest).gaps}
    assert found == {
        "model column fct_orders.is_otif: no description",
        "macro argument hours_between(end_at): not documented in the macros yml",
        "macro argument keyed_hash(salt): documented, but the macro takes no such argument",
        "exposure operations_health: no URL",
        "source column tms.shipments.freight_cost: no description",
    }


def test_macro_arguments_are_read_from_the_macro_source(catalog_site):
    macros = catalog_site.manifest()["macros"]
    assert macro_signature(macros["macro.unify.hours_between"]) == ["start_at", "end_at"]
    assert macro_signature(macros["macro.unify.test_scd2_no_overlap"]) == [
        "model", "entity_key", "valid_from", "valid_to"]
    # The gate's macro (macros/gate/) is the project's too, and described.
    gate = macros["macro.unify.is_incremental"]
    assert gate["original_file_path"].startswith("macros/gate/") and gate["description"].strip()


def test_dashboards_are_exposures_with_owner_url_and_models(catalog_site):
    manifest = catalog_site.manifest()
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert set(exposures) == set(DASHBOARDS)
    for name, label in DASHBOARDS.items():
        exposure = exposures[name]
        assert exposure["label"] == label and exposure["type"] == "dashboard"
        assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", exposure["owner"]["email"]), exposure["owner"]
        assert exposure["owner"]["name"].strip()
        assert exposure["url"].startswith("https://")
        parents = exposure["depends_on"]["nodes"]
        assert any(p.startswith("model.unify.rpt_") for p in parents), parents


def test_metrics_and_overview_have_doc_blocks(catalog_site):
    manifest = catalog_site.manifest()
    docs = {d["name"]: d["block_contents"] for d in manifest["docs"].values() if d["package_name"] == "unify"}
    missing = [m for m in METRIC_DOC_BLOCKS if m not in docs]
    assert not missing, f"metric doc blocks missing: {missing}"
    # Each metric's doc block reaches the catalog: some model's or column's description is rendered from it.
    texts = [n["description"] for n in manifest["nodes"].values() if n["package_name"] == "unify"]
    texts += [c["description"] for n in manifest["nodes"].values() if n["package_name"] == "unify"
              for c in n.get("columns", {}).values()]
    unused = [m for m in METRIC_DOC_BLOCKS if not any(docs[m].strip() in text for text in texts)]
    assert not unused, f"metric doc blocks no description uses: {unused}"

    overview = docs["__overview__"]
    for must in ("lineage.html", "staging", "snapshots", "intermediate", "marts", "reporting", "seeds",
                 "OTIF", "row-level security", "PII", "#!/model/model.unify.fct_orders"):
        assert must in overview, f"the overview does not mention {must!r}"
    for link in re.findall(r"#!/model/(model\.unify\.\w+)", overview):
        assert link in manifest["nodes"], f"the overview links to a model that does not exist: {link}"


def test_descriptions_reach_the_warehouse(catalog_site):
    """persist_docs: every model, seed and snapshot relation and column carries its description as a comment."""
    manifest = catalog_site.manifest()
    rows = catalog_site.query(
        """
        select n.nspname, c.relname, a.attname, obj_description(c.oid, 'pg_class'),
               col_description(c.oid, a.attnum)
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where c.relkind in ('r', 'v')
        """
    )
    comments = {(s, r): (rel, {}) for s, r, _a, rel, _c in rows}
    for schema, relation, column, _rel, col in rows:
        comments[(schema, relation)][1][column] = col

    def same(a: str | None, b: str) -> bool:
        return " ".join((a or "").split()) == " ".join(b.split())

    checked = 0
    for node in manifest["nodes"].values():
        if node["package_name"] != "unify" or node["resource_type"] not in ("model", "seed", "snapshot"):
            continue
        relation_comment, column_comments = comments[(node["schema"], node["alias"])]
        assert same(relation_comment, node["description"]), f"{node['name']}: relation comment differs"
        for name, meta in node["columns"].items():
            assert same(column_comments.get(name), meta["description"]), f"{node['name']}.{name}: column comment"
            checked += 1
    kinds = {n["resource_type"] for n in manifest["nodes"].values() if n["package_name"] == "unify"}
    assert {"model", "seed", "snapshot"} <= kinds and checked > 500
