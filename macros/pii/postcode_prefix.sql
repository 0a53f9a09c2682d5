{#- The outward part of a postcode, generalised to its first three characters (upper case, spaces
    removed): enough for regional analysis, too coarse to locate a household. -#}
{% macro postcode_prefix(expression) -%}
    left(upper(replace({{ expression }}, ' ', '')), 3)
{%- endmacro %}
