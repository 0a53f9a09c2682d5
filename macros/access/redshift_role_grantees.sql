{#- Grantees of a grants config as Redshift roles: `unify_analyst` -> `role:unify_analyst`; entries that
    already say `user:`, `group:` or `role:` are kept. -#}
{% macro redshift_role_grantees(grantees) -%}
    {%- set result = [] -%}
    {%- for grantee in ([grantees] if grantees is string else grantees) -%}
        {%- if grantee.startswith(('user:', 'group:', 'role:')) -%}
            {%- do result.append(grantee) -%}
        {%- else -%}
            {%- do result.append('role:' ~ unify.access_identifier(grantee, 'grantee (grants config)')) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(result) }}
{%- endmacro %}
