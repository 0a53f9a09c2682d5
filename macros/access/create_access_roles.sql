{#- on-run-start: create every role in var access_roles that does not exist yet (idempotent), and let
    the bypass roles (the transformer) read row-secured tables. Returns the SQL the hook runs: nothing
    where the build runs without security-admin rights (access_privileged_in_build). -#}
{% macro create_access_roles() -%}
    {%- if not unify.access_privileged_in_build() -%}
        {{ return('') }}  {#- the privileged step creates them (apply_access) -#}
    {%- endif -%}
    {{ return(unify.create_access_roles_sql()) }}
{%- endmacro %}
