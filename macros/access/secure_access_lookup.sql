{#- Post-hook of the mapping model access_client_grants: what the row-level security policies need
    from the mapping itself. Returns the SQL the hook runs: where the build runs without
    security-admin rights, only what lets the privileged step do it (access_admin_grant_sql). -#}
{% macro secure_access_lookup() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- if not unify.access_privileged_in_build() -%}
        {{ return(unify.access_admin_grant_sql(this)) }}
    {%- endif -%}
    {{ return(unify.access_lookup_security_sql(this)) }}
{%- endmacro %}
