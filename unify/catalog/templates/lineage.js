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

function renderList(query) {
  const terms = query.toLowerCase().split(/[\s.]+/).filter(Boolean);
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
const plain = (text) => (text || "").replace(/\*\*|`/g, "");

function renderColumn(model, column) {
  const node = NODES[model], c = node.columns[column];
  const detail = document.getElementById("detail");
  detail.replaceChildren(
    el("h2", {textContent: model + "." + column}),
    el("p", {className: "meta"},
       el("span", {className: "badge " + c.kind, textContent: c.kind}), KIND_TEXT[c.kind] + " \u00b7 " + node.layer + " \u00b7 ",
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
    el("p", {className: "meta"}, node.resource_type + " \u00b7 " + node.layer + " \u00b7 ",
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
       " \u00b7 generated " + DATA.generated_at + " \u00b7 dialect " + DATA.dialect),
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
