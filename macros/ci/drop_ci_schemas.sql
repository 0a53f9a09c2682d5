{#- Drops a CI run's schemas: `prefix` and every `<prefix>_<layer>` schema (docs/operations.md, "Slim CI").
    Run by `unify ci slim` after the build, even a failed one:
      dbt run-operation drop_ci_schemas --args '{prefix: ci_pr_7}'   (with UNIFY_SCHEMA=ci_pr_7)
    It only drops the schemas of the target it runs against (prefix must equal target.schema) and only
    ci_* ones, so it can never drop production's. -#}
{% macro drop_ci_schemas(prefix) %}
    {%- if prefix != target.schema or not prefix.startswith('ci_') -%}
        {{ exceptions.raise_compiler_error(
            "drop_ci_schemas drops only the running target's own CI schemas: prefix '" ~ prefix
            ~ "' must start with ci_ and equal target.schema ('" ~ target.schema ~ "')") }}
    {%- endif -%}
    {%- set dropped = [] -%}
    {%- for row in list_schemas(target.database) -%}
        {%- set schema = row[0] -%}
        {%- if schema == prefix or schema.startswith(prefix ~ '_') -%}
            {%- do adapter.drop_schema(api.Relation.create(database=target.database, schema=schema)) -%}
            {%- do dropped.append(schema) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ log("drop_ci_schemas: dropped " ~ (dropped | length) ~ " schema(s): " ~ (dropped | sort | join(", ")), info=True) }}
{% endmacro %}
