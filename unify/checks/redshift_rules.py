"""What Redshift rejects: find PostgreSQL-only constructs in SQL with sqlglot's Redshift dialect.

`scan_sql(sql)` parses SQL as Redshift (sqlglot) and returns one `Finding` per offending construct
and line: the rule it breaks, what was written, and the line in *that* SQL text. It knows nothing of
dbt; `redshift_gate` feeds it the compiled SQL of every node and maps lines back to source files.

Why each rule exists (AWS, "Amazon Redshift and PostgreSQL": unsupported features, data types and
functions): Redshift parses most PostgreSQL syntax, but executes a different engine; what local
PostgreSQL accepts silently, the production cluster rejects at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError

DIALECT = "redshift"


@dataclass(frozen=True)
class Rule:
    """One thing Redshift does not accept, and what to write instead."""

    code: str
    title: str
    hint: str


RULES: dict[str, Rule] = {
    rule.code: rule
    for rule in (
        Rule(
            "distinct-on",
            "DISTINCT ON",
            "keep the first row per key with a window: `qualify row_number() over (partition by <key> "
            "order by <col> desc) = 1` (or filter `row_number() ... = 1` in the next CTE)",
        ),
        Rule(
            "aggregate-filter",
            "aggregate FILTER (WHERE ...)",
            "move the condition into the aggregate: `sum(case when <cond> then x end)`, "
            "`count(case when <cond> then 1 end)`",
        ),
        Rule(
            "array",
            "PostgreSQL arrays and array functions/operators",
            "Redshift has no PostgreSQL arrays: keep lists as rows, aggregate text with "
            "`listagg(x, ',') within group (order by ...)`, test membership with `in (...)`; for real "
            "nested data use SUPER (split_to_array, array(...), PartiQL) in a redshift__ macro",
        ),
        Rule(
            "on-conflict",
            "INSERT ... ON CONFLICT",
            "use MERGE, or let dbt do it: incremental model with `unique_key` and "
            "`incremental_strategy='merge'` or 'delete+insert'",
        ),
        Rule(
            "generate-series",
            "generate_series() in a query that reads a table",
            "generate_series runs only on the leader node: build the series with a recursive CTE "
            "(`with recursive`), from a calendar/number seed, or `row_number() over ()` of a table",
        ),
        Rule(
            "jsonb",
            "json/jsonb types, operators and PostgreSQL JSON functions",
            "keep JSON as varchar and read it with `json_extract_path_text(col, 'key')` / "
            "`json_extract_array_element_text`, or load it as SUPER (`json_parse`) and navigate "
            "`col.key` in a redshift__ macro",
        ),
        Rule(
            "lateral",
            "LATERAL subquery/join",
            "join to a CTE that pre-computes per key (window functions, `qualify row_number() ... = 1`); "
            "for SUPER arrays unnest with `from t, t.array_col as item`",
        ),
        Rule(
            "returning",
            "RETURNING clause",
            "Redshift DML returns no rows: select the affected rows with the same predicate before the "
            "statement (in the same transaction), or read them back afterwards",
        ),
        Rule(
            "is-distinct-from",
            "IS [NOT] DISTINCT FROM",
            "compare nulls explicitly: `coalesce(a <> b, true) and not (a is null and b is null)` for IS "
            "DISTINCT FROM, its negation for IS NOT DISTINCT FROM",
        ),
        Rule(
            "pg-only-function",
            "PostgreSQL function Redshift does not have",
            "see the function's note; AWS lists them under 'Unsupported PostgreSQL functions'",
        ),
        Rule(
            "pg-only-type",
            "PostgreSQL data type Redshift does not have",
            "see the type's note; AWS lists them under 'Unsupported PostgreSQL data types'",
        ),
        Rule(
            "unsupported",
            "construct sqlglot cannot express in Redshift SQL",
            "rewrite it with Redshift functions (the message names the construct)",
        ),
        Rule(
            "unparseable",
            "SQL that does not parse as Redshift",
            "fix the syntax; if local PostgreSQL runs it, it uses PostgreSQL-only syntax",
        ),
    )
}

# Functions of PostgreSQL arrays (AWS: "Array functions and operators" are unsupported).
ARRAY_FUNCTIONS = frozenset(
    {
        "array_agg", "unnest", "array_length", "array_to_string", "string_to_array", "array_append",
        "array_prepend", "array_cat", "array_remove", "array_replace", "array_position",
        "array_positions", "array_dims", "array_lower", "array_upper", "array_ndims", "array_fill",
        "cardinality", "generate_subscripts", "regexp_split_to_array", "trim_array", "array_sample",
        "array_shuffle",
    }
)
# PostgreSQL JSON functions; Redshift has json_extract_path_text, json_extract_array_element_text,
# json_array_length, json_parse, json_serialize, is_valid_json(_array), can_json_parse, json_typeof.
JSON_FUNCTIONS = frozenset(
    {
        "to_json", "to_jsonb", "row_to_json", "array_to_json", "json_agg", "json_object_agg",
        "json_build_object", "json_build_array", "json_object", "json_each", "json_each_text",
        "json_array_elements", "json_array_elements_text", "json_object_keys", "json_populate_record",
        "json_populate_recordset", "json_to_record", "json_to_recordset", "json_strip_nulls",
        "json_extract_path",
    }
)
# Other PostgreSQL functions on AWS's unsupported list, with the Redshift way.
PG_FUNCTIONS: dict[str, str] = {
    "string_agg": "use `listagg(expr, ',') within group (order by ...)`",
    "every": "use `bool_and(...)`",
    "xmlagg": "no XML in Redshift: aggregate text with listagg",
    "corr": "compute from sums (avg(x*y) - avg(x)*avg(y)) / (stddev_pop(x)*stddev_pop(y))",
    "covar_pop": "compute as avg(x*y) - avg(x)*avg(y)",
    "covar_samp": "compute from sums: (sum(x*y) - sum(x)*sum(y)/count(*)) / (count(*) - 1)",
    "clock_timestamp": "use getdate() (current time) or sysdate (start of the transaction)",
    "transaction_timestamp": "use sysdate",
    "justify_days": "normalise intervals with datediff/dateadd",
    "justify_hours": "normalise intervals with datediff/dateadd",
    "justify_interval": "normalise intervals with datediff/dateadd",
    "pg_sleep": "not available; do not sleep in SQL",
    "div": "use floor(a / b) (integer operands divide as integers)",
    "setseed": "not available; random() cannot be seeded",
    "width_bucket": "use a case expression or floor((x - low) / step)",
    "bit_length": "use octet_length(x) * 8",
    "overlay": "use substring(...) || replacement || substring(...)",
    "format": "build the text with || and to_char()",
    "quote_nullable": "use coalesce(quote_literal(x), 'NULL')",
    "regexp_matches": "use regexp_substr(...) (one match) or regexp_count(...)",
    "regexp_split_to_table": "use split_part(...) joined to a numbers CTE",
    "gen_random_uuid": "derive a key with md5(<natural key columns>)",
    "uuid_generate_v4": "derive a key with md5(<natural key columns>)",
}
PG_FUNCTION_PREFIXES: dict[str, str] = {
    "regr_": "compute the regression from sums (count, sum(x), sum(y), sum(x*y), sum(x*x))",
}


def _type(name: str):
    return getattr(exp.DataType.Type, name, None)


# PostgreSQL types Redshift does not have (json/jsonb and arrays have their own rules).
PG_TYPES: dict[object, tuple[str, str]] = {
    key: value
    for key, value in {
        _type("UUID"): ("uuid", "use char(36) / varchar(36)"),
        _type("MONEY"): ("money", "use decimal(19, 4) with the currency in its own column"),
        _type("INET"): ("inet", "use varchar(45)"),
        _type("CIDR"): ("cidr", "use varchar(49)"),
        _type("XML"): ("xml", "use varchar(max) or SUPER"),
        _type("HSTORE"): ("hstore", "use SUPER or key/value rows"),
        _type("SERIAL"): ("serial", "use `identity(1, 1)` in DDL or row_number() in a model"),
        _type("BIGSERIAL"): ("bigserial", "use `identity(1, 1)` in DDL or row_number() in a model"),
        _type("SMALLSERIAL"): ("smallserial", "use `identity(1, 1)` in DDL or row_number() in a model"),
        _type("BIT"): ("bit", "use boolean or integer"),
        _type("POINT"): ("point", "use GEOMETRY (ST_Point)"),
        _type("INT4RANGE"): ("int4range", "use two columns (lower, upper)"),
        _type("INT8RANGE"): ("int8range", "use two columns (lower, upper)"),
        _type("NUMRANGE"): ("numrange", "use two columns (lower, upper)"),
        _type("TSRANGE"): ("tsrange", "use two columns (valid_from, valid_to)"),
        _type("TSTZRANGE"): ("tstzrange", "use two columns (valid_from, valid_to)"),
        _type("DATERANGE"): ("daterange", "use two columns (valid_from, valid_to)"),
    }.items()
    if key is not None
}
JSON_TYPES = {t for t in (_type("JSON"), _type("JSONB")) if t is not None}
# Operators Redshift does not have at all: (rule, note) by operator token.
OPERATOR_RULES: dict[str, tuple[str, str]] = {
    "->": ("jsonb", ""),
    "->>": ("jsonb", ""),
    "#>": ("jsonb", ""),
    "#>>": ("jsonb", ""),
    "#-": ("jsonb", ""),
    "?|": ("jsonb", ""),
    "?&": ("jsonb", ""),
    "@>": ("array", "containment is a PostgreSQL array/jsonb operator"),
    "<@": ("array", "containment is a PostgreSQL array/jsonb operator"),
    "&&": ("array", "overlap is a PostgreSQL array operator"),
}
JSON_OPERATOR_TOKENS = ("?", "?|", "?&")
# Catalog schemas live on the leader node: generate_series next to them still runs there.
LEADER_SCHEMAS = frozenset({"pg_catalog", "information_schema"})


@dataclass(frozen=True)
class Finding:
    """One construct Redshift rejects, at a line of the scanned SQL text (1-based)."""

    rule: str
    construct: str
    line: int
    note: str = ""

    @property
    def hint(self) -> str:
        base = RULES[self.rule].hint
        if not self.note:
            return base
        if self.rule in ("pg-only-function", "pg-only-type"):
            return self.note
        return f"{base} ({self.note})"


@dataclass(frozen=True)
class _Hit:
    rule: str
    construct: str
    keywords: tuple[str, ...]
    node: exp.Expression
    note: str = ""


def _reads_table(statement: exp.Expression) -> bool:
    """True when the statement reads a real table (not only CTEs, table functions or the catalog)."""
    cte_names = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function: generate_series(...), unnest(...)
        if not table.db and table.name.lower() in cte_names:
            continue
        if table.db.lower() in LEADER_SCHEMAS:
            continue
        return True
    return False


def _function_rule(name: str) -> tuple[str, str] | None:
    """(rule, note) for a PostgreSQL-only function name, None when Redshift has it."""
    if name in ARRAY_FUNCTIONS:
        return "array", ""
    if name in JSON_FUNCTIONS or name.startswith("jsonb_"):
        return "jsonb", ""
    if name in PG_FUNCTIONS:
        return "pg-only-function", PG_FUNCTIONS[name]
    for prefix, note in PG_FUNCTION_PREFIXES.items():
        if name.startswith(prefix):
            return "pg-only-function", note
    return None


def _syntax_hits(statement: exp.Expression) -> list[_Hit]:
    """Constructs recognised in the syntax tree (functions and operators are found in the tokens)."""
    hits: list[_Hit] = []
    for node in statement.walk():
        if isinstance(node, exp.Distinct) and node.args.get("on"):
            hits.append(_Hit("distinct-on", "DISTINCT ON (...)", ("distinct",), node))
        elif isinstance(node, exp.Filter):
            hits.append(_Hit("aggregate-filter", "FILTER (WHERE ...)", ("filter",), node))
        elif isinstance(node, exp.OnConflict):
            hits.append(_Hit("on-conflict", "ON CONFLICT", ("conflict", "duplicate"), node))
        elif isinstance(node, exp.Returning):
            hits.append(_Hit("returning", "RETURNING", ("returning",), node))
        elif isinstance(node, exp.Lateral):
            hits.append(_Hit("lateral", "LATERAL", ("lateral",), node))
        elif isinstance(node, (exp.NullSafeEQ, exp.NullSafeNEQ)):
            written = "IS NOT DISTINCT FROM" if isinstance(node, exp.NullSafeEQ) else "IS DISTINCT FROM"
            hits.append(_Hit("is-distinct-from", written, ("distinct",), node))
        elif isinstance(node, exp.Array) and node.args.get("bracket_notation"):
            hits.append(_Hit("array", "ARRAY[...] constructor", ("array",), node))
        elif isinstance(node, exp.DataType):
            if node.this == exp.DataType.Type.ARRAY:
                hits.append(_Hit("array", f"array type {node.sql(DIALECT).lower()}", ("[",), node))
            elif node.this in JSON_TYPES:
                name = node.this.value.lower()
                hits.append(_Hit("jsonb", f"{name} type", (name,), node))
            elif node.this in PG_TYPES:
                name, note = PG_TYPES[node.this]
                hits.append(_Hit("pg-only-type", f"{name} type", (name,), node, note))
        elif isinstance(node, exp.Func) and type(node).__name__.startswith("JSONB") and "start" not in node.meta:
            hits.append(_Hit("jsonb", "jsonb operator", JSON_OPERATOR_TOKENS, node))
        elif isinstance(node, (exp.GenerateSeries, exp.ExplodingGenerateSeries)) or (
            isinstance(node, exp.Anonymous) and str(node.name).lower() == "generate_series"
        ):
            if _reads_table(statement):
                hits.append(_Hit("generate-series", "generate_series()", ("generate_series",), node))
    return hits


def _span(node: exp.Expression | None) -> tuple[int, int] | None:
    """Character span of the node's positioned parts, else of its nearest positioned ancestor."""
    while node is not None:
        starts, ends = [], []
        for child in node.walk():
            meta = child.meta
            if "start" in meta:
                starts.append(meta["start"])
                ends.append(meta.get("end", meta["start"]))
        if starts:
            return min(starts), max(ends)
        node = node.parent
    return None


def _locate(hit: _Hit, tokens: list, statement_span: tuple[int, int] | None, sql: str) -> int:
    """Line of the keyword that makes the construct, nearest to where the construct's node sits."""
    span = _span(hit.node) or statement_span
    keywords = {k.lower() for k in hit.keywords}
    best = None
    for token in tokens:
        if token.text.lower() not in keywords:
            continue
        if statement_span and not statement_span[0] <= token.start <= statement_span[1]:
            continue
        if span is None:
            distance = token.start
        elif span[0] <= token.start <= span[1]:
            distance = 0
        else:
            distance = min(abs(token.start - span[0]), abs(token.start - span[1]))
        if best is None or distance < best[0]:
            best = (distance, token)
    if best is not None:
        return best[1].line
    if span is not None:
        return sql.count("\n", 0, span[0]) + 1
    return 1


def _token_findings(tokens: list) -> list[Finding]:
    """PostgreSQL-only functions (a known name followed by `(`) and operators, straight from tokens.

    Tokens, not the tree: sqlglot normalises names (string_agg and listagg both become GroupConcat,
    string_to_array and split_to_array both StringToArray), the written name is what Redshift sees.
    generate_series is judged on the tree (it depends on whether the statement reads a table).
    """
    found: list[Finding] = []
    for index, token in enumerate(tokens):
        text = token.text.lower()
        if text in OPERATOR_RULES:
            rule, note = OPERATOR_RULES[text]
            found.append(Finding(rule, f"{token.text} operator", token.line, note))
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if following is None or following.token_type != sqlglot.TokenType.L_PAREN:
            continue
        if token.token_type in (sqlglot.TokenType.STRING, sqlglot.TokenType.NUMBER):
            continue
        match = _function_rule(text)
        if match:
            found.append(Finding(match[0], f"{text}()", token.line, match[1]))
    return found


def _statement_spans(tokens: list) -> list[tuple[int, int] | None]:
    """Character span of each semicolon-separated chunk, aligned with what sqlglot.parse returns
    (one entry per chunk, None for an empty one, no entry for an empty last chunk)."""
    chunks: list[list] = [[]]
    for token in tokens:
        if token.token_type == sqlglot.TokenType.SEMICOLON:
            chunks.append([])
        else:
            chunks[-1].append(token)
    if len(chunks) > 1 and not chunks[-1]:
        chunks.pop()
    return [(chunk[0].start, chunk[-1].end) if chunk else None for chunk in chunks]


def _parse_error_finding(err: Exception, sql: str) -> Finding:
    line = 1
    detail = str(err).splitlines()[0] if str(err) else type(err).__name__
    if isinstance(err, ParseError) and err.errors:
        first = err.errors[0]
        line = int(first.get("line") or 1)
        detail = first.get("description") or detail
    else:
        match = re.search(r"[Ll]ine:? (\d+)", str(err))
        if match:
            line = int(match.group(1))
    return Finding("unparseable", f"parse error: {detail}", line)


def scan_sql(sql: str) -> list[Finding]:
    """Every construct in `sql` that Redshift rejects, one finding per rule and line, in line order."""
    try:
        tokens = sqlglot.tokenize(sql, read=DIALECT)
        statements = sqlglot.parse(sql, read=DIALECT)
    except (ParseError, TokenError) as err:
        return [_parse_error_finding(err, sql)]
    spans = _statement_spans(tokens)
    findings: dict[tuple[str, int], Finding] = {}
    for finding in _token_findings(tokens):
        findings.setdefault((finding.rule, finding.line), finding)
    for index, statement in enumerate(statements):
        if statement is None:
            continue
        span = spans[index] if index < len(spans) else None
        hits = _syntax_hits(statement)
        for hit in hits:
            line = _locate(hit, tokens, span, sql)
            findings.setdefault((hit.rule, line), Finding(hit.rule, hit.construct, line, hit.note))
        statement_lines = range(sql.count("\n", 0, span[0]) + 1, sql.count("\n", 0, span[1]) + 2) if span else None
        if not any(statement_lines is None or f.line in statement_lines for f in findings.values()):
            try:
                statement.sql(dialect=DIALECT, unsupported_level=ErrorLevel.RAISE)
            except UnsupportedError as err:
                line = statement_lines.start if statement_lines else 1
                message = str(err).splitlines()[0]
                findings.setdefault(("unsupported", line), Finding("unsupported", message, line))
    return sorted(findings.values(), key=lambda f: (f.line, f.rule))
