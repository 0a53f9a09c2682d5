{#- Sets dbt-postgres's `indexes` config on the model that calls it, on PostgreSQL only (the local
    warehouse): the btree indexes its incremental runs, its downstream models' key lookups and the
    frequent cycle's tests need. Redshift has no indexes: its dist and sort keys (the model's `dist`
    and `sort` config) do that job, and dbt-redshift never sees an `indexes` config. Call it in the
    model's SQL next to `config()`: `{{ unify.postgres_indexes([{'columns': ['order_id'], 'unique':
    true}, ...]) }}`. Renders nothing. dbt-postgres creates the indexes when it creates the table (first
    run or --full-refresh), not on incremental runs. -#}
{% macro postgres_indexes(indexes) -%}
    {{ return(adapter.dispatch('postgres_indexes', 'unify')(indexes)) }}
{%- endmacro %}

{% macro postgres__postgres_indexes(indexes) -%}
    {%- do config(indexes=indexes) -%}
{%- endmacro %}

{#- dbt-redshift dispatches to postgres__ when no redshift__ exists: this one keeps the config away. -#}
{% macro redshift__postgres_indexes(indexes) -%}
{%- endmacro %}

{% macro default__postgres_indexes(indexes) -%}
{%- endmacro %}
