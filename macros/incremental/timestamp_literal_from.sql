{#- Reads one timestamp, `select <expression> from <relation>`, while a model or test is compiled for
    execution, and returns it as a SQL literal `cast('YYYY-MM-DD HH:MI:SS.ffffff' as timestamp)`. Returns
    none when there is nothing to read: while parsing, in a unit test (its relations are CTEs of
    fixtures), while the offline Redshift gate or lint renders a branch (var unify_gate_is_incremental
    set: the result must not depend on which tables exist locally), when the relation does not exist or
    the value is null; the caller then uses the same expression as a scalar
    subquery. A literal lets the planner use the column's statistics and index (PostgreSQL) or zone
    maps (Redshift); a subquery's value is unknown when the plan is made. -#}
{% macro timestamp_literal_from(relation, expression) -%}
    {%- if not execute or model.resource_type == 'unit_test' or var('unify_gate_is_incremental', none) is not none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if adapter.get_relation(relation.database, relation.schema, relation.identifier) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set result = run_query('select ' ~ expression ~ ' from ' ~ relation) -%}
    {%- if result is none or result.rows | length == 0 or result.rows[0][0] is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set value = result.rows[0][0] -%}
    {%- set text = value.strftime('%Y-%m-%d %H:%M:%S.%f') if value.strftime is defined else value | string -%}
    {{ return("cast('" ~ text ~ "' as timestamp)") }}
{%- endmacro %}
