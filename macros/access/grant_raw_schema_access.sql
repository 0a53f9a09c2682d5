{#- on-run-start: the raw schemas (every source's schema, created by the loaders) and the loaders' own
    schemas (var access_raw_extra_schemas: the load ledger) are readable by the loader and the
    transformer only. Schemas the loaders have not created yet are skipped (the next run covers them).
    Returns the SQL the hook runs. -#}
{% macro grant_raw_schema_access() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set wanted = [] -%}
    {%- for source in graph.sources.values() if source.package_name == project_name -%}
        {%- if source.schema not in wanted -%}
            {%- do wanted.append(source.schema) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for schema in var('access_raw_extra_schemas') if schema not in wanted -%}
        {%- do wanted.append(schema) -%}
    {%- endfor -%}
    {%- set found = run_query(
        "select schema_name from information_schema.schemata where schema_name in ('"
        ~ (wanted | join("', '")) ~ "')") -%}
    {%- set existing = [] -%}
    {%- for row in found.rows -%}
        {%- do existing.append(row[0]) -%}
    {%- endfor -%}
    {%- set schemas = [] -%}
    {%- for schema in wanted if schema in existing -%}
        {%- do schemas.append(schema) -%}
    {%- endfor -%}
    {{ return(unify.raw_schema_access_sql(schemas)) }}
{%- endmacro %}
