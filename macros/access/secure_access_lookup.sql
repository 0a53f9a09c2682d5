{#- Post-hook of the mapping model access_client_grants: what the row-level security policies need
    from the mapping itself. Returns the SQL the hook runs. -#}
{% macro secure_access_lookup() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {{ return(unify.access_lookup_security_sql(this)) }}
{%- endmacro %}
