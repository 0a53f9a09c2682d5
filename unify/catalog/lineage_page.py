"""target/lineage.html: the column-lineage page served next to the dbt docs site.

One static file: the lineage document is embedded as JSON and rendered by a few lines of plain
JavaScript (no framework, no network access, works from file:// too). Search by model or column;
`lineage.html#<model>.<column>` opens one column, `lineage.html#<model>` lists a model's columns.
"""

from __future__ import annotations

import json

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Column lineage | Project Unify data catalog</title>
<style>
  :root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --accent: #ff694b; --bg: #f5f7fa;
          --raw: #0b6e4f; --seed: #8a5a00; --hop: #2956a8; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
         background: var(--bg); }
  header { background: #262a38; color: #fff; padding: 12px 20px; display: flex; gap: 24px; align-items: baseline;
           flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0; }
  header a { color: #ffb8a8; }
  header .coverage { color: #cbd2d9; }
  main { display: grid; grid-template-columns: minmax(260px, 340px) 1fr; height: calc(100vh - 52px); }
  nav { border-right: 1px solid var(--line); background: #fff; display: flex; flex-direction: column; min-height: 0; }
  nav input { margin: 12px; padding: 8px 10px; font-size: 14px; border: 1px solid #9aa5b1; border-radius: 4px; }
  nav .count { margin: 0 12px 6px; color: var(--muted); font-size: 12px; }
  #list { overflow: auto; padding: 0 0 20px; flex: 1; }
  .model { padding: 6px 12px 2px; font-weight: 600; border-top: 1px solid var(--line); }
  .model small { font-weight: normal; color: var(--muted); margin-left: 6px; }
  .col { display: block; padding: 2px 12px 2px 28px; color: var(--ink); text-decoration: none;
         white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .col:hover, .col.selected { background: #fff1ee; color: #b33a1f; }
  section#detail { overflow: auto; padding: 20px 28px; }
  h2 { margin: 0 0 4px; font-size: 22px; word-break: break-all; }
  h3 { margin: 18px 0 6px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
  .desc { max-width: 900px; white-space: pre-wrap; }
  .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; color: #fff;
           background: var(--muted); margin-right: 8px; }
  .badge.source { background: var(--raw); } .badge.seed { background: var(--seed); }
  .badge.row_count, .badge.constant, .badge.snapshot_metadata { background: #7b61a8; }
  .badge.unresolved { background: #c0392b; }
  ul.items { list-style: none; padding: 0; margin: 0; }
  ul.items li { padding: 3px 0; font-family: SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
  li.raw::before { content: "RAW"; color: #fff; background: var(--raw); font: 10px/1 sans-serif; padding: 3px 5px;
                   border-radius: 3px; margin-right: 8px; }
  li.seed::before { content: "SEED"; color: #fff; background: var(--seed); font: 10px/1 sans-serif; padding: 3px 5px;
                    border-radius: 3px; margin-right: 8px; }
  .layer { color: var(--muted); font-family: sans-serif; font-size: 12px; margin-left: 8px; }
  a.hop { color: var(--hop); }
  .empty { color: var(--muted); }
  .meta { color: var(--muted); }
  code { background: #e4e7eb; padding: 1px 4px; border-radius: 3px; }
</style>
</head>
<body>
<header>
  <h1>Column lineage</h1>
  <span class="coverage" id="coverage"></span>
  <a href="index.html">&larr; back to the dbt docs site</a>
</header>
<main>
  <nav>
    <input id="search" type="search" placeholder="Search model or column, e.g. fct_orders is_otif" autocomplete="off">
    <div class="count" id="count"></div>
    <div id="list"></div>
  </nav>
  <section id="detail"></section>
</main>
<script id="lineage-data" type="application/json">__DATA__</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("lineage-data").textContent);
const NODES = DATA.nodes;
const KIND_TEXT = {
  source: "from raw source columns", seed: "from seed (reference data) columns only",
  row_count: "a count of rows", constant: "computed constant (reads no column)",
  snapshot_metadata: "added by dbt snapshot", unresolved: "could not be traced"
};
const el = (tag, props, ...children) => {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) node.append(child);
  return node;
};
const entries = [];
for (const [model, node] of Object.entries(NODES)) {
  for (const column of Object.keys(node.columns)) entries.push({model, column, key: model + "." + column});
}
const cov = DATA.coverage;
document.getElementById("coverage").textContent =
  cov.resolved + " of " + cov.columns + " mart and reporting columns resolve to raw source or seed columns";

function renderList(query) {
  const terms = query.toLowerCase().split(/[\\s.]+/).filter(Boolean);
  const list = document.getElementById("list");
  list.replaceChildren();
  let shown = 0, current = null;
  for (const e of entries) {
    const hay = (e.key + " " + NODES[e.model].layer).toLowerCase();
    if (!terms.every(t => hay.includes(t))) continue;
    if (current !== e.model) {
      current = e.model;
      list.append(el("div", {className: "model"}, e.model, el("small", {textContent: NODES[e.model].layer})));
    }
    list.append(el("a", {className: "col", href: "#" + e.key, textContent: e.column, title: e.key}));
    shown++;
  }
  document.getElementById("count").textContent = shown + " column(s)";
  markSelected();
}

function markSelected() {
  const hash = decodeURIComponent(location.hash.slice(1));
  for (const a of document.querySelectorAll("a.col")) a.classList.toggle("selected", a.title === hash);
}

function itemList(items, cls, linker) {
  if (!items.length) return el("p", {className: "empty", textContent: "none"});
  const ul = el("ul", {className: "items"});
  for (const item of items) {
    const li = el("li", {className: cls});
    if (linker) li.append(linker(item)); else li.append(item);
    ul.append(li);
  }
  return ul;
}

function hopLink(label) {
  const parts = label.split(".");
  const frag = document.createDocumentFragment();
  frag.append(el("a", {className: "hop", href: "#" + label, textContent: label}));
  const node = NODES[parts[0]];
  if (node) frag.append(el("span", {className: "layer", textContent: node.layer}));
  return frag;
}

function rawLink(label) {
  // raw_<system>.<table>[.<column>]: link the table to its source page in the dbt docs
  const parts = label.split("."), table = DATA.raw_tables[parts[0] + "." + parts[1]];
  if (!table) return label;
  return el("a", {className: "hop", href: table.docs_url, textContent: label, title: table.description});
}

// Descriptions are Markdown; this page shows them as plain text.
const plain = (text) => (text || "").replace(/\\*\\*|`/g, "");

function renderColumn(model, column) {
  const node = NODES[model], c = node.columns[column];
  const detail = document.getElementById("detail");
  detail.replaceChildren(
    el("h2", {textContent: model + "." + column}),
    el("p", {className: "meta"},
       el("span", {className: "badge " + c.kind, textContent: c.kind}), KIND_TEXT[c.kind] + " \\u00b7 " + node.layer + " \\u00b7 ",
       el("a", {href: node.docs_url, textContent: "open " + model + " in the dbt docs"})),
    el("div", {className: "desc", textContent: plain(c.description) || "(no description)"}),
    el("h3", {textContent: "Raw source columns (" + c.raw_columns.length + ")"}),
    itemList(c.raw_columns, "raw", rawLink),
    el("h3", {textContent: "Seed columns (" + c.seed_columns.length + ")"}),
    itemList(c.seed_columns, "seed", hopLink),
  );
  if (c.raw_row_counts.length) {
    detail.append(el("h3", {textContent: "Counts rows of"}), itemList(c.raw_row_counts, "raw", rawLink));
  }
  detail.append(
    el("h3", {textContent: "Reads directly (one hop)"}), itemList(c.upstream, "", hopLink),
    el("h3", {textContent: "Every intermediate hop (" + c.hops.length + ")"}),
    itemList(c.hops, "", hopLink));
  if (c.constants.length) detail.append(el("h3", {textContent: "Constants and row counts on the way"}), itemList(c.constants, ""));
  if (c.unresolved.length) detail.append(el("h3", {textContent: "Could not trace"}), itemList(c.unresolved, ""));
  if (c.note) detail.append(el("h3", {textContent: "Note"}), el("p", {textContent: c.note}));
  document.title = model + "." + column + " | Column lineage";
}

function renderModel(model) {
  const node = NODES[model];
  const detail = document.getElementById("detail");
  const ul = el("ul", {className: "items"});
  for (const [column, c] of Object.entries(node.columns)) {
    ul.append(el("li", {}, el("a", {className: "hop", href: "#" + model + "." + column, textContent: column}),
                 el("span", {className: "layer", textContent: c.kind + ": " +
                   (c.raw_columns.concat(c.seed_columns).slice(0, 4).join(", ") || c.raw_row_counts.join(", ") || "-")})));
  }
  detail.replaceChildren(el("h2", {textContent: model}),
    el("p", {className: "meta"}, node.resource_type + " \\u00b7 " + node.layer + " \\u00b7 ",
       el("a", {href: node.docs_url, textContent: "open in the dbt docs"})),
    el("div", {className: "desc", textContent: plain(node.description)}), el("h3", {textContent: "Columns"}), ul);
}

function renderHome() {
  const detail = document.getElementById("detail");
  const unresolved = el("ul", {className: "items"});
  for (const u of cov.unresolved) {
    unresolved.append(el("li", {}, el("a", {className: "hop", href: "#" + u.column, textContent: u.column}),
                         el("span", {className: "layer", textContent: u.kind + ": " + u.reason})));
  }
  detail.replaceChildren(
    el("h2", {textContent: "Where does this column come from?"}),
    el("p", {className: "desc", textContent:
      "Pick a column on the left (or search: model and column name). For every model, snapshot and seed " +
      "column this page lists the raw source columns (raw_<system>.<table>.<column>, as the loaders land them) " +
      "and seed columns its value is computed from, and every intermediate model column on the way. " +
      "Derived with sqlglot from the SQL dbt compiled; columns used only to filter or join are not listed " +
      "(the dbt docs lineage graph shows model-level dependencies). Machine-readable: column_lineage.json."}),
    el("p", {}, el("a", {href: "column_lineage.json", textContent: "column_lineage.json"}),
       " \\u00b7 generated " + DATA.generated_at + " \\u00b7 dialect " + DATA.dialect),
    el("h3", {textContent: "Mart and reporting columns that do not resolve to a raw or seed column (" +
              cov.unresolved.length + ")"}), unresolved);
  document.title = "Column lineage | Project Unify data catalog";
}

function route() {
  const hash = decodeURIComponent(location.hash.slice(1));
  const dot = hash.indexOf(".");
  const model = dot < 0 ? hash : hash.slice(0, dot), column = dot < 0 ? "" : hash.slice(dot + 1);
  if (NODES[model] && column && NODES[model].columns[column]) renderColumn(model, column);
  else if (NODES[model] && !column) { renderModel(model); }
  else renderHome();
  markSelected();
}

const search = document.getElementById("search");
search.addEventListener("input", () => renderList(search.value));
window.addEventListener("hashchange", route);
const initial = decodeURIComponent(location.hash.slice(1));
if (initial) search.value = initial.split(".")[0];
renderList(search.value);
route();
</script>
</body>
</html>
"""


def render_page(document: dict) -> str:
    """The HTML page for a column_lineage.json document (embedded, `</` escaped for the script element)."""
    data = json.dumps(document, separators=(",", ":")).replace("</", "<\\/")
    return _TEMPLATE.replace("__DATA__", data)
