"""Column-level lineage: every mart and reporting column traced to raw source (or seed) columns.

The document under test is the target/column_lineage.json the session fixture wrote after the main
job's `dbt docs generate`; a small hand-written manifest checks the tracing rules on their own.
"""

from __future__ import annotations

from unify.catalog.lineage import COVERED_LAYERS, Project, build_lineage
from loaders.source_tables import ALL_TABLES

RAW_COLUMNS = {f"{t.raw_schema}.{t.raw_table}.{c.raw_name}" for t in ALL_TABLES for c in t.all_columns}


def _column(document: dict, model: str, column: str) -> dict:
    return document["nodes"][model]["columns"][column]


def test_gross_margin_reaches_freight_cost_and_contract_rates(catalog_site):
    margin = _column(catalog_site.lineage(), "fct_client_profitability_monthly", "gross_margin_usd")
    assert margin["kind"] == "source"
    assert {
        "raw_tms.shipments.freight_cost",
        "raw_salesforce.contracts.handling_fee_per_order__c",
        "raw_salesforce.contracts.pick_fee_per_unit__c",
        "raw_salesforce.contracts.freight_markup_pct__c",
    } <= set(margin["raw_columns"])
    # Currency conversion and warehouse handling cost come from seeds, and say so.
    assert {"currency_rates_monthly.usd_per_unit", "warehouse_cost_rates.cost_per_order_usd",
            "warehouse_cost_rates.cost_per_unit_usd"} <= set(margin["seed_columns"])
    # The hops: the order-grain pricing model, the contract dimension, and staging.
    assert margin["upstream"] == ["int_orders_priced_with_contract_terms.cost_usd",
                                  "int_orders_priced_with_contract_terms.revenue_usd"]
    assert {"dim_contract.handling_fee_per_order", "fct_shipments.freight_cost_usd",
            "stg_salesforce__contract_versions.pick_fee_per_unit", "stg_tms__shipments.freight_cost"} <= set(
        margin["hops"])


def test_otif_reaches_order_lines_quantities_and_delivery_times(catalog_site):
    otif = _column(catalog_site.lineage(), "fct_orders", "is_otif")
    assert {"raw_azureware.order_lines.qtyordered", "raw_azureware.order_lines.qtyshipped",
            "raw_tms.shipments.delivered_at", "raw_azureware.orders.promiseddeliverydate"} <= set(otif["raw_columns"])
    assert {"stg_azureware__order_lines.qty_shipped", "stg_tms__shipments.delivered_at"} <= set(otif["hops"])
    # and the reporting layer inherits it
    rpt = _column(catalog_site.lineage(), "rpt_client_profitability_monthly", "otif_orders")
    assert "raw_tms.shipments.delivered_at" in rpt["raw_columns"]


def test_every_mart_and_reporting_column_is_traced(catalog_site):
    document = catalog_site.lineage()
    catalog = catalog_site.catalog()
    manifest = catalog_site.manifest()
    covered = 0
    for uid, entry in catalog["nodes"].items():
        node = manifest["nodes"][uid]
        if node["resource_type"] != "model" or node["fqn"][1] not in COVERED_LAYERS:
            continue
        columns = document["nodes"][node["name"]]["columns"]
        assert set(columns) == {c.lower() for c in entry["columns"]}, node["name"]
        for name, column in columns.items():
            covered += 1
            label = f"{node['name']}.{name}"
            # Nothing is silently lost: a column resolves to raw/seed columns, or is a count of rows of
            # raw tables, or a constant that reads no column (date spine, as-of time); never "unresolved".
            assert column["kind"] in ("source", "seed", "row_count", "constant"), (label, column["unresolved"])
            if column["kind"] == "row_count":
                assert column["raw_row_counts"], label
            if column["kind"] == "constant":
                assert column["constants"], label
            # Every raw column named is a real raw column of the source contract (loaders/source_tables.py).
            assert set(column["raw_columns"]) <= RAW_COLUMNS, (label, set(column["raw_columns"]) - RAW_COLUMNS)
    coverage = document["coverage"]
    assert coverage["columns"] == covered > 200
    unresolved = {u["column"]: u for u in coverage["unresolved"]}
    assert coverage["resolved"] == covered - len(unresolved)
    print(f"\nlineage coverage: {coverage['resolved']}/{covered} mart and reporting columns resolve to raw or "
          f"seed columns; not to a column ({len(unresolved)}):")
    for u in coverage["unresolved"]:
        print(f"  {u['column']}: {u['kind']}: {u['reason'][:110]}")
    # What cannot resolve to a column says why: counts of rows, and the generated calendar.
    assert unresolved["fct_orders.shipment_count"]["kind"] == "row_count"
    assert "raw_tms.shipments" in _column(document, "fct_orders", "shipment_count")["raw_row_counts"]
    assert unresolved["dim_date.date_day"]["kind"] == "constant"


def test_seeds_snapshots_and_staging_are_labelled(catalog_site):
    document = catalog_site.lineage()
    status_group = _column(document, "fct_orders", "status_group")
    assert status_group["kind"] == "seed" and status_group["seed_columns"] == ["order_status_mapping.status_group"]
    fee = _column(document, "snap_salesforce__contracts", "handling_fee_per_order")
    assert fee["raw_columns"] == ["raw_salesforce.contracts.handling_fee_per_order__c"]
    assert fee["hops"] == ["stg_salesforce__contracts.handling_fee_per_order"]
    valid_from = _column(document, "snap_salesforce__contracts", "dbt_valid_from")
    assert valid_from["kind"] == "snapshot_metadata"
    assert valid_from["raw_columns"] == ["raw_salesforce.contracts.systemmodstamp"] and valid_from["note"]
    assert document["nodes"]["snap_salesforce__contracts"]["docs_url"] == (
        "index.html#!/snapshot/snapshot.unify.snap_salesforce__contracts")
    masked = _column(document, "fct_orders", "customer_key")  # the keyed hash macro, expanded
    assert masked["raw_columns"] == ["raw_azureware.orders.customername"]


def _tiny_project() -> Project:
    """A hand-written manifest: one source, two models; the rules checked on their own."""
    relation = lambda schema, name: f'"db"."{schema}"."{name}"'  # noqa: E731
    nodes = {
        "model.p.m1": {
            "resource_type": "model", "name": "m1", "fqn": ["p", "marts", "m1"], "package_name": "p",
            "relation_name": relation("marts", "m1"), "columns": {}, "config": {},
            "compiled_code": (
                'with src as (select * from "db"."raw_x"."t"), '
                "agg as (select src.a, count(*) as n, max(src.b) as top_b from src "
                'left join "db"."seeds"."s" as s on src.a = s.k group by src.a) '
                "select a + 1 as c, n, top_b, 'fixed' as label, s.v as seeded "
                'from agg left join "db"."seeds"."s" as s on agg.a = s.k'),
        },
        "model.p.m2": {
            "resource_type": "model", "name": "m2", "fqn": ["p", "reporting", "m2"], "package_name": "p",
            "relation_name": relation("reporting", "m2"), "columns": {}, "config": {},
            "compiled_code": 'select c, n, seeded from "db"."marts"."m1"',
        },
        "seed.p.s": {"resource_type": "seed", "name": "s", "fqn": ["p", "s"], "package_name": "p",
                     "relation_name": relation("seeds", "s"), "columns": {"k": {}, "v": {}}, "config": {}},
    }
    sources = {"source.p.x.t": {"resource_type": "source", "name": "t", "source_name": "x", "schema": "raw_x",
                                "identifier": "t", "relation_name": relation("raw_x", "t"),
                                "columns": {"a": {}, "b": {}, "unused": {}}}}
    project = Project({"metadata": {"adapter_type": "postgres"}, "nodes": nodes, "sources": sources}, None)
    project.columns.update({"model.p.m1": ["c", "n", "top_b", "label", "seeded"], "model.p.m2": ["c", "n", "seeded"]})
    return project


def test_tracing_rules_on_a_hand_written_project():
    document, report = build_lineage(_tiny_project())
    m1, m2 = document["nodes"]["m1"]["columns"], document["nodes"]["m2"]["columns"]
    assert m1["c"]["raw_columns"] == ["raw_x.t.a"] and m1["c"]["kind"] == "source"      # through two CTEs
    assert m1["top_b"]["raw_columns"] == ["raw_x.t.b"]                                    # aggregate
    assert m1["n"]["kind"] == "row_count" and m1["n"]["raw_row_counts"] == ["raw_x.t"]    # outer join adds no rows
    assert m1["label"]["kind"] == "constant" and m1["label"]["constants"] == ["'fixed'"]
    assert m1["seeded"]["kind"] == "seed" and m1["seeded"]["seed_columns"] == ["s.v"]
    assert m2["c"]["raw_columns"] == ["raw_x.t.a"] and m2["c"]["hops"] == ["m1.c"]       # across models
    assert m2["seeded"]["seed_columns"] == ["s.v"]
    assert (report.columns, report.resolved) == (8, 5)
    assert {u.column for u in report.unresolved} == {"m1.n", "m1.label", "m2.n"}


def test_the_page_embeds_the_document_so_no_description_can_end_its_script():
    """lineage.html carries column_lineage.json in a <script> element; a description holding `</script>`
    (descriptions are free Markdown) must come back as data, not as markup that ends the element."""
    import html.parser
    import json

    from unify.catalog.lineage_page import render_page

    document, _report = build_lineage(_tiny_project())
    hostile = "ends here </script><script>alert('x')</script> & <b>bold</b>"
    document["nodes"]["m1"]["description"] = hostile

    class Scripts(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.open: str | None = None
            self.texts: dict[str, str] = {}
            self.count = 0

        def handle_starttag(self, tag, attrs):
            if tag == "script":
                self.count += 1
                self.open = dict(attrs).get("id") or f"script{self.count}"

        def handle_endtag(self, tag):
            if tag == "script":
                self.open = None

        def handle_data(self, data):
            if self.open:
                self.texts[self.open] = self.texts.get(self.open, "") + data

    page = render_page(document)
    scripts = Scripts()
    scripts.feed(page)
    assert scripts.count == 2  # the data and the page's own script: nothing injected
    assert json.loads(scripts.texts["lineage-data"]) == document
    assert list(json.loads(scripts.texts["lineage-data"])["nodes"]) == list(document["nodes"])  # order kept
    assert "5 of 8 mart and reporting columns resolve" in page
    assert "function route()" in scripts.texts["script2"]  # the included script is inline
