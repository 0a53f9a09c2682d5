{#- The statements that make `schema` usable by exactly `roles` among the project's roles (var
    access_roles) and by no one else: USAGE granted to them, revoked from the other project roles and
    PUBLIC, and no default privileges for anyone, so a table appears to readers only when dbt grants it
    (grants config). Portable: Redshift and PostgreSQL accept the same statements. -#}
{% macro schema_usage_sql(schema, roles) -%}
    {%- set s = adapter.quote(schema) -%}
    {%- set others = ['public'] -%}
    {%- set everyone = ['public'] -%}
    {%- for role in var('access_roles') -%}
        {%- do everyone.append(unify.access_role_grantee(role)) -%}
        {%- if role not in roles -%}
            {%- do others.append(unify.access_role_grantee(role)) -%}
        {%- endif -%}
    {%- endfor -%}
    {#- in var access_roles' order, whatever order the models listed them in: the same SQL every run -#}
    {%- set granted = [] -%}
    {%- for role in var('access_roles') if role in roles -%}
        {%- do granted.append(role) -%}
    {%- endfor -%}
    {%- for role in roles if role not in granted -%}
        {%- do granted.append(role) -%}
    {%- endfor -%}
    {%- set statements = ['revoke all on schema ' ~ s ~ ' from ' ~ (others | join(', '))] -%}
    {%- if granted -%}
        {%- do statements.append('grant usage on schema ' ~ s ~ ' to ' ~ unify.access_role_grantees(granted)) -%}
    {%- endif -%}
    {%- do statements.append('alter default privileges in schema ' ~ s ~ ' revoke all on tables from '
                             ~ (everyone | join(', '))) -%}
    {{ return(statements | join(';\n') ~ ';') }}
{%- endmacro %}
