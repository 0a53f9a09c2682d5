{#- The raw schemas (every source's, and var access_raw_extra_schemas) that exist in the warehouse. -#}
{% macro existing_raw_schemas() -%}
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
    {{ return(schemas) }}
{%- endmacro %}
