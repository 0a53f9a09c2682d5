"""target/lineage.html: the column-lineage page served next to the dbt docs site.

One static file rendered with Jinja2 (which dbt itself is built on) from the package's templates
(unify/catalog/templates/: lineage.html.j2, with lineage.css and lineage.js included inline): the
lineage document is embedded as JSON (Jinja's `tojson`, which escapes `<`, `>`, `&` and `'` so the
data cannot close its script element) and rendered by plain JavaScript (no framework, no network
access, works from file:// too). Search by model or column; `lineage.html#<model>.<column>` opens one
column, `lineage.html#<model>` lists a model's columns.
"""

from __future__ import annotations

from functools import cache

import jinja2

TEMPLATE = "lineage.html.j2"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("unify.catalog", "templates"),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,  # a missing value is an error, not an empty string on the page
        keep_trailing_newline=True,
    )
    # Keep the document's order (the page lists models in layer order, as column_lineage.json does).
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "separators": (",", ":")}
    return env


def render_page(document: dict) -> str:
    """The HTML page for a column_lineage.json document."""
    return _environment().get_template(TEMPLATE).render(document=document, coverage=document["coverage"])
