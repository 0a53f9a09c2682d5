{#- "Now" for time-relative metrics (SLA breach risk, OTIF's due orders): the var as_of_at when set,
    otherwise the current UTC time of the run. -#}
{% macro as_of_timestamp() -%}
    {%- if var('as_of_at', none) -%}
        cast('{{ var("as_of_at") }}' as timestamp)
    {%- else -%}
        {{ return(adapter.dispatch('as_of_timestamp', 'unify')()) }}
    {%- endif -%}
{%- endmacro %}

{% macro redshift__as_of_timestamp() -%}
    cast(getdate() as timestamp)
{%- endmacro %}

{% macro postgres__as_of_timestamp() -%}
    cast(now() at time zone 'UTC' as timestamp)
{%- endmacro %}

{% macro default__as_of_timestamp() -%}
    cast({{ dbt.current_timestamp() }} as timestamp)
{%- endmacro %}
