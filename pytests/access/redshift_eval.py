"""Evaluate a Redshift SQL expression in Python, faithfully to AWS's documentation, for the few constructs the
keyed hash uses; anything else raises, so an unrecognised construct can never be skipped silently.

No Redshift is reachable here, so the Redshift rendering of the keyed hash is checked by parsing the SQL dbt
rendered for the `prod` target with sqlglot's Redshift dialect and evaluating the tree node by node:

- `SHA2(string, bits)`: "converts a variable-length string into a character string ... the text
  representation of the hexadecimal value of the checksum" (AWS, SHA2 function). Redshift stores VARCHAR
  as UTF-8, so the checksum is SHA-256 of the string's UTF-8 bytes, as lowercase hex (the docs'
  example output is lowercase). bits must be 256 (or 0, the same); null in, null out.
- `a || b`: string concatenation; "if either or both expressions are null, the result is null" (AWS,
  Concatenation operator).
- `LOWER(s)`, `TRIM(s)`: lower-casing (UTF-8 multibyte characters included) and removing leading and
  trailing blanks (spaces: TRIM's default); null in, null out.
- `(SELECT k.col FROM table AS k)`: a scalar subquery without WHERE, evaluated against the rows the test
  supplies for that table; more than one row is an error, as on Redshift.
- columns, string literals and parentheses.
"""

from __future__ import annotations

import hashlib

from sqlglot import exp


class UnsupportedConstruct(Exception):
    """The expression uses SQL this evaluator does not model; the test must not pass on a guess."""


def evaluate(node: exp.Expression, columns: dict[tuple[str, str], object],
             tables: dict[str, list[dict[str, object]]]):
    """The value of `node`; `columns` maps (table alias, column) to values, `tables` a table name to rows."""

    def ev(n: exp.Expression):
        if isinstance(n, exp.Paren):
            return ev(n.this)
        if isinstance(n, exp.Alias):
            return ev(n.this)
        if isinstance(n, exp.Literal):
            if not n.is_string:
                return int(n.this)
            return n.this
        if isinstance(n, exp.Column):
            key = (n.table, n.name)
            if key not in columns:
                raise UnsupportedConstruct(f"unknown column {n.sql('redshift')}")
            return columns[key]
        if isinstance(n, exp.DPipe):
            left, right = ev(n.this), ev(n.expression)
            if left is None or right is None:
                return None
            if not (isinstance(left, str) and isinstance(right, str)):
                raise UnsupportedConstruct(f"|| of non-strings: {n.sql('redshift')}")
            return left + right
        if isinstance(n, exp.SHA2):
            bits = ev(n.args["length"]) if n.args.get("length") is not None else 256
            if bits not in (0, 256):
                raise UnsupportedConstruct(f"SHA2 with {bits} bits")
            value = ev(n.this)
            return None if value is None else hashlib.sha256(value.encode("utf-8")).hexdigest()
        if isinstance(n, exp.Lower):
            value = ev(n.this)
            return None if value is None else value.lower()
        if isinstance(n, exp.Trim):
            if n.args.get("expression") is not None or n.args.get("position"):
                raise UnsupportedConstruct(f"TRIM with characters or a side: {n.sql('redshift')}")
            value = ev(n.this)
            return None if value is None else value.strip(" ")
        if isinstance(n, exp.Subquery):
            return scalar_subquery(n.this)
        raise UnsupportedConstruct(f"{type(n).__name__}: {n.sql('redshift')}")

    def scalar_subquery(select: exp.Expression):
        if not isinstance(select, exp.Select) or len(select.expressions) != 1:
            raise UnsupportedConstruct(f"subquery {select.sql('redshift')}")
        unsupported = [k for k in ("where", "joins", "group", "having", "order", "limit", "with") if select.args.get(k)]
        if unsupported:
            raise UnsupportedConstruct(f"subquery with {unsupported}: {select.sql('redshift')}")
        table = select.args["from_"].this
        if not isinstance(table, exp.Table):
            raise UnsupportedConstruct(f"subquery from {table.sql('redshift')}")
        rows = tables[table.name]
        if len(rows) > 1:
            raise ValueError(f"more than one row returned by a subquery used as an expression ({table.name})")
        if not rows:
            return None
        column = select.expressions[0]
        if not isinstance(column, exp.Column) or column.table != table.alias_or_name:
            raise UnsupportedConstruct(f"subquery column {column.sql('redshift')}")
        return rows[0][column.name]

    return ev(node)
