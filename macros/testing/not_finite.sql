{#- A boolean SQL expression: true when `column` (a number) is NaN or infinite, one rendering per engine. -#}
{% macro not_finite(column) -%}
    {{ return(adapter.dispatch('not_finite', 'unify')(column)) }}
{%- endmacro %}

{#- Redshift: DECIMAL has no NaN or infinity (COPY refuses them), so no value is. -#}
{% macro redshift__not_finite(column) -%}
    false
{%- endmacro %}

{#- PostgreSQL: numeric holds 'NaN', 'Infinity' and '-Infinity' (16+), each equal to itself. -#}
{% macro postgres__not_finite(column) -%}
    {{ column }} in (cast('NaN' as numeric), cast('Infinity' as numeric), cast('-Infinity' as numeric))
{%- endmacro %}

{% macro default__not_finite(column) -%}
    {{ exceptions.raise_compiler_error("not_finite has no implementation for adapter " ~ adapter.type()) }}
{%- endmacro %}
