{#- Hours from one timestamp to another, with fractions (e.g. 1.5 for 90 minutes). -#}
{% macro hours_between(start_at, end_at) -%}
    {{ return(adapter.dispatch('hours_between', 'unify')(start_at, end_at)) }}
{%- endmacro %}

{% macro redshift__hours_between(start_at, end_at) -%}
    (datediff(second, {{ start_at }}, {{ end_at }}) / 3600.0)
{%- endmacro %}

{% macro postgres__hours_between(start_at, end_at) -%}
    (extract(epoch from ({{ end_at }}) - ({{ start_at }})) / 3600.0)
{%- endmacro %}

{% macro default__hours_between(start_at, end_at) -%}
    ({{ dbt.datediff(start_at, end_at, 'second') }} / 3600.0)
{%- endmacro %}
