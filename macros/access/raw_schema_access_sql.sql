{#- The statements that close `schemas` to everyone but the loader (reads and appends) and the
    transformer (reads): revoke what PUBLIC and the reader roles hold, grant the two roles, and set the
    default privileges so tables created later (a new source table, schema drift) are the same. Raw
    tables are append-only (7-year retention): the loader role gets SELECT and INSERT, never UPDATE or
    DELETE. Portable: Redshift and PostgreSQL accept the same statements (grantees via
    access_role_grantee). -#}
{% macro raw_schema_access_sql(schemas) -%}
    {%- set loader = unify.access_role_grantee(var('access_loader_role')) -%}
    {%- set transformer = unify.access_role_grantee(var('access_transformer_role')) -%}
    {%- set others = ['public'] -%}
    {%- for role in var('access_roles')
        if role not in (var('access_loader_role'), var('access_transformer_role')) -%}
        {%- do others.append(unify.access_role_grantee(role)) -%}
    {%- endfor -%}
    {%- set closed = others | join(', ') -%}
    {#- Default privileges apply to objects created by the role running them (dbt's user); where the
        loaders connect as another database user (production), var access_loader_db_user names it. -#}
    {%- set defaults = 'alter default privileges' ~ (
        (' for user ' ~ adapter.quote(var('access_loader_db_user'))) if var('access_loader_db_user', '') else '') -%}
    {%- set statements = [] -%}
    {%- for schema in schemas -%}
        {%- set s = adapter.quote(schema) -%}
        {%- do statements.append('revoke all on schema ' ~ s ~ ' from ' ~ closed) -%}
        {%- do statements.append('revoke all on all tables in schema ' ~ s ~ ' from ' ~ closed) -%}
        {%- do statements.append('grant usage, create on schema ' ~ s ~ ' to ' ~ loader) -%}
        {%- do statements.append('grant usage on schema ' ~ s ~ ' to ' ~ transformer) -%}
        {%- do statements.append('grant select, insert on all tables in schema ' ~ s ~ ' to ' ~ loader) -%}
        {%- do statements.append('grant select on all tables in schema ' ~ s ~ ' to ' ~ transformer) -%}
        {%- do statements.append(defaults ~ ' in schema ' ~ s ~ ' revoke all on tables from ' ~ closed) -%}
        {%- do statements.append(defaults ~ ' in schema ' ~ s ~ ' grant select, insert on tables to ' ~ loader) -%}
        {%- do statements.append(defaults ~ ' in schema ' ~ s ~ ' grant select on tables to ' ~ transformer) -%}
    {%- endfor -%}
    {{ return((statements | join(';\n') ~ ';') if statements else '') }}
{%- endmacro %}
