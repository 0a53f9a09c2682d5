{#- on-run-start: the raw schemas (every source's schema, created by the loaders) and the loaders' own
    schemas (var access_raw_extra_schemas: the load ledger) are readable by the loader and the
    transformer only. Schemas the loaders have not created yet are skipped (the next run covers them).
    Returns the SQL the hook runs: nothing where the build runs without security-admin rights
    (access_privileged_in_build; the schemas are not dbt's). -#}
{% macro grant_raw_schema_access() -%}
    {%- if not execute or not unify.access_privileged_in_build() -%}
        {{ return('') }}  {#- elsewhere the privileged step does it (apply_access) -#}
    {%- endif -%}
    {{ return(unify.raw_schema_access_sql(unify.existing_raw_schemas())) }}
{%- endmacro %}
