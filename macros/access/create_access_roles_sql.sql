{#- The statements that create the missing roles and let the bypass roles read every row. -#}
{% macro create_access_roles_sql() -%}
    {%- set roles = [] -%}
    {%- for role in var('access_roles') -%}
        {%- do roles.append(unify.access_identifier(role, 'role name (vars access_* in dbt_project.yml)')) -%}
    {%- endfor -%}
    {{ return(adapter.dispatch('create_access_roles_sql', 'unify')(roles, var('access_rls_bypass_roles'))) }}
{%- endmacro %}

{#- Redshift has no CREATE ROLE IF NOT EXISTS: ask svv_roles which exist, create the others. IGNORE RLS
    lets the transformer read every row of row-secured tables to build downstream models. -#}
{% macro redshift__create_access_roles_sql(roles, bypass_roles) -%}
    {%- set existing = [] -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select role_name from svv_roles where role_name in ('" ~ (roles | join("', '")) ~ "')") -%}
        {%- for row in found.rows -%}
            {%- do existing.append(row[0]) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set statements = [] -%}
    {%- for role in roles if role not in existing -%}
        {%- do statements.append('create role ' ~ role) -%}
    {%- endfor -%}
    {%- for role in bypass_roles -%}
        {%- do statements.append('grant ignore rls to ' ~ unify.access_role_grantee(role)) -%}
    {%- endfor -%}
    {{ return(statements | join(';\n') ~ ';') }}
{%- endmacro %}

{#- PostgreSQL: roles are cluster-wide, so several databases (test runs) may create them at the same
    time; a role created meanwhile is not an error. NOLOGIN: people log in as themselves and are
    granted these roles. (The PostgreSQL counterpart of IGNORE RLS is a policy per row-secured table,
    see apply_client_row_security.) -#}
{% macro postgres__create_access_roles_sql(roles, bypass_roles) -%}
    {%- set statement -%}
do $unify_access_roles$
declare
    role_to_create text;
begin
    foreach role_to_create in array array['{{ roles | join("', '") }}'] loop
        if not exists (select 1 from pg_catalog.pg_roles where rolname = role_to_create) then
            begin
                execute format('create role %I nologin', role_to_create);
            exception when duplicate_object or unique_violation then
                null;  -- created by a concurrent run meanwhile
            end;
        end if;
    end loop;
end
$unify_access_roles$;
    {%- endset -%}
    {{ return(statement) }}
{%- endmacro %}

{% macro default__create_access_roles_sql(roles, bypass_roles) -%}
    {{ exceptions.raise_compiler_error("create_access_roles_sql has no implementation for adapter " ~ adapter.type()) }}
{%- endmacro %}
