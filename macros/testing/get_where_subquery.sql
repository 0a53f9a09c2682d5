{#- Project override of dbt's get_where_subquery, the macro every generic test wraps the tested model
    with (dbt documents overriding it for custom `where` logic). Full strength unless the frequent
    cycle asks otherwise: it returns exactly what dbt's own does (the model, filtered by the test's
    `where` config if it has one) unless the var test_window_hours is set AND the tested model's yml
    sets `meta: {test_window_column: <load-time column>}`. Then (the frequent cycle):

    - every generic test sees only the rows loaded within the test window (the column at or after the
      model's newest value minus the window), so it costs what the new data costs;
    - `unique` and `unique_combination_of_columns` see every row, anywhere in the table, whose key
      is a key of a row in the window: each key touched by the cycle must be unique in the whole
      table, not only among the new rows (a lookup by key, which the model's indexes serve).

    The nightly and catch-up builds leave the var empty and test every row. -#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set window = unify.test_window_condition(relation) if execute else none -%}
    {%- if window -%}
        {%- do conditions.append(window) -%}
    {%- endif -%}
    {%- if not conditions -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set filtered -%}
        (select * from {{ relation }} as tested_rows where {{ conditions | join(' and ') }}) dbt_subquery
    {%- endset -%}
    {{ return(filtered) }}
{%- endmacro %}

{#- The frequent cycle's condition for the generic test being compiled (see get_where_subquery), or
    none when the test runs at full strength. -#}
{% macro test_window_condition(relation) -%}
    {%- set tested = graph.nodes.get(model.attached_node) if model.attached_node else none -%}
    {%- set column = ((tested.config.meta or {}).get('test_window_column')) if tested else none -%}
    {%- if not column -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set start = unify.test_window_start(relation, column) -%}
    {%- if start is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set test = model.test_metadata or {} -%}
    {%- set kwargs = test.get('kwargs') or {} -%}
    {%- if test.get('name') == 'unique' -%}
        {%- set keys = [kwargs.get('column_name')] -%}
    {%- elif test.get('name') == 'unique_combination_of_columns' -%}
        {%- set keys = kwargs.get('combination_of_columns') -%}
    {%- else -%}
        {{ return('tested_rows.' ~ column ~ ' >= ' ~ start) }}
    {%- endif -%}
    {%- set matches = [] -%}
    {%- for key in keys -%}
        {%- do matches.append('touched_rows.' ~ key ~ ' = tested_rows.' ~ key) -%}
    {%- endfor -%}
    {%- set touched -%}
        exists (
            select 1 from {{ relation }} as touched_rows
            where touched_rows.{{ column }} >= {{ start }} and {{ matches | join(' and ') }}
        )
    {%- endset -%}
    {{ return(touched) }}
{%- endmacro %}
