{#- The final SELECT of an incremental delete+insert model: every row of the CTE `cte` in a full build;
    in an incremental run only the rows that are new or differ from the target's row of the same key.
    A run re-resolves keys whose rows do not change (a fact's orders whose lines or shipments arrived;
    every key in a raised lookback's window: a TMS extract is one batch of a day's rows), and
    delete+insert would delete and write each of them again, with its indexes; a row that compares
    equal, column by column (NULL equal to NULL), is left where it is, so a run writes what changed.
    The columns compared are the model's documented ones (every column is); when the target lacks one
    of them (a column being added through on_schema_change), every row is written, as before. In a unit
    test (`this` is a fixture) every row is returned: the tests there pin which keys a run resolves, not
    which it rewrites. `mark_column`, the model's high-water-mark column, and `cutoff`, the model's
    incremental_cutoff of it (passed, not read again): a re-read row's mark is past the cutoff, so only
    target rows past it can equal one, and the target is read as that range (index, or sort key and zone
    maps on Redshift), not in full. A row that finds no equal is written, so a narrower read can only
    cost a rewrite. -#}
{% macro select_changed_rows(cte, unique_key, mark_column=none, cutoff=none) -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set columns = model.columns.keys() | map('lower') | list if model.columns is defined else [] -%}
    {%- set compare = is_incremental() and model.resource_type != 'unit_test' and columns | length > 0 -%}
    {%- if compare and execute and var('unify_gate_is_incremental', none) is none -%}
        {%- set existing = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
        {%- set compare = (columns | reject('in', existing) | list | length) == 0 -%}
    {%- endif -%}
    {%- if compare %}
select new_rows.*
from {{ cte }} as new_rows
left join
    {%- if mark_column %}
    (
        select * from {{ this }}
        where {{ mark_column }} > {{ cutoff if cutoff is not none else incremental_cutoff(mark_column) }}
    )
    {%- else %} {{ this }}{% endif %} as existing_rows
    on {% for key in keys %}existing_rows.{{ key }} = new_rows.{{ key }}{% if not loop.last %}
    and {% endif %}{% endfor %}
    {%- for column in columns if column not in keys %}
    and {{ unify.same_or_both_null('existing_rows.' ~ column, 'new_rows.' ~ column) }}
    {%- endfor %}
where existing_rows.{{ keys[0] }} is null
    {%- else %}
select * from {{ cte }}
    {%- endif %}
{%- endmacro %}
