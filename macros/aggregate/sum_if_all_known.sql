{#- `sum(expression)` over the group only when every row's value is known, else null: an amount unknown for
    one order is unknown for the whole group, never a partial sum that reads as a smaller amount (count()
    skips nulls, count(*) does not). -#}
{% macro sum_if_all_known(expression) -%}
    case when count({{ expression }}) = count(*) then sum({{ expression }}) end
{%- endmacro %}
