{#- PostgreSQL: the statements that switch row-level security on for `relation` and (re)create its two
    SELECT policies inside the caller's transaction: `policy` for the reader roles (var
    access_client_reader_roles) with `predicate`, and unify_rls_bypass for the bypass roles (var
    access_rls_bypass_roles: the transformer) with every row. Drop-and-create makes a re-run apply a
    changed predicate or role list. Not FORCE: the owner (dbt's user; locally a superuser, who bypasses
    RLS anyway) builds downstream models from every row, as Redshift's IGNORE RLS lets the transformer
    do. A list of statements. -#}
{% macro postgres_select_policies_sql(relation, policy, predicate) -%}
    {%- set readers = unify.access_role_grantees(var('access_client_reader_roles')) -%}
    {%- set bypass = unify.access_role_grantees(var('access_rls_bypass_roles')) -%}
    {{ return([
        'alter table ' ~ relation ~ ' enable row level security',
        'drop policy if exists ' ~ policy ~ ' on ' ~ relation,
        'create policy ' ~ policy ~ ' on ' ~ relation ~ ' as permissive for select to ' ~ readers
            ~ ' using (' ~ predicate ~ ')',
        'drop policy if exists unify_rls_bypass on ' ~ relation,
        'create policy unify_rls_bypass on ' ~ relation ~ ' as permissive for select to ' ~ bypass
            ~ ' using (true)',
    ]) }}
{%- endmacro %}
