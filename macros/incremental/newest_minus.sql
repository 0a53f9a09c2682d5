{#- `max(<column>) - <amount> <datepart>s` over `relation` (datepart 'minute' for the incremental
    cutoff, 'hour' for the frequent cycle's test window start), through dbt.dateadd: Redshift's
    DATEADD, PostgreSQL's interval arithmetic. Read once while a model or test is compiled for execution
    and returned as a literal `cast('YYYY-MM-DD HH:MI:SS.ffffff' as timestamp)`: the planner then knows
    how few rows are newer and uses the column's statistics and index (PostgreSQL) or zone maps
    (Redshift); a scalar subquery's value is unknown when the plan is made. Returns that scalar subquery
    instead when nothing can be read: while parsing, in a unit test (its relations are CTEs of
    fixtures), while the offline Redshift gate or lint renders a branch (var unify_gate_is_incremental
    set: the SQL must not depend on which tables exist locally), when the relation does not exist. An
    empty relation has no newest value: then every row is newer (a floor of 1900-01-01, also inside the
    subquery), never `> null`, which selects nothing: an incremental model first built while its source
    was empty (a first deployment before the first TMS extract, a DMS table with no rows yet) must pick
    its rows up when they come. -#}
{% macro newest_minus(relation, column, amount, datepart) -%}
    {%- set expression = dbt.dateadd(datepart, -1 * (amount | int), 'max(' ~ column ~ ')') -%}
    {%- set floor = "cast('1900-01-01 00:00:00' as timestamp)" -%}
    {%- set subquery = 'coalesce((select ' ~ expression ~ ' from ' ~ relation ~ '), ' ~ floor ~ ')' -%}
    {%- if not execute or model.resource_type == 'unit_test' or var('unify_gate_is_incremental', none) is not none
        or adapter.get_relation(relation.database, relation.schema, relation.identifier) is none -%}
        {{ return(subquery) }}
    {%- endif -%}
    {%- set value = run_query('select ' ~ expression ~ ' from ' ~ relation).rows[0][0] -%}
    {%- if value is none -%}
        {{ return(floor) }}
    {%- endif -%}
    {%- set text = value.strftime('%Y-%m-%d %H:%M:%S.%f') if value.strftime is defined else value | string -%}
    {{ return("cast('" ~ text ~ "' as timestamp)") }}
{%- endmacro %}
