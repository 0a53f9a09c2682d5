{#- The statements that prepare the mapping `lookup` for the client policies. -#}
{% macro access_lookup_security_sql(lookup) -%}
    {{ return(adapter.dispatch('access_lookup_security_sql', 'unify')(lookup)) }}
{%- endmacro %}

{#- Redshift: a policy reads its lookup with its own grant, so readers get no privilege on the mapping
    at all, and Redshift refuses RLS on a lookup table anyway. Create the client_id policy here, before
    any client-scoped table (they all depend on the mapping) attaches it. -#}
{% macro redshift__access_lookup_security_sql(lookup) -%}
    {{ return(unify.redshift_client_policy_sql(lookup, 'client_id') | join(';\n') ~ ';') }}
{%- endmacro %}

{#- PostgreSQL: a policy's subquery runs with the reader's rights, so readers may SELECT the mapping
    (grants config of the model) but see only their own rows in it; the bypass roles see all. -#}
{% macro postgres__access_lookup_security_sql(lookup) -%}
    {%- set readers = unify.access_role_grantees(var('access_client_reader_roles')) -%}
    {%- set bypass = unify.access_role_grantees(var('access_rls_bypass_roles')) -%}
    {%- set statements = [
        'alter table ' ~ lookup ~ ' enable row level security',
        'drop policy if exists unify_own_grants on ' ~ lookup,
        'create policy unify_own_grants on ' ~ lookup ~ ' as permissive for select to ' ~ readers
            ~ ' using (user_name = current_user)',
        'drop policy if exists unify_rls_bypass on ' ~ lookup,
        'create policy unify_rls_bypass on ' ~ lookup ~ ' as permissive for select to ' ~ bypass
            ~ ' using (true)',
    ] -%}
    {{ return(statements | join(';\n') ~ ';') }}
{%- endmacro %}

{% macro default__access_lookup_security_sql(lookup) -%}
    {{ exceptions.raise_compiler_error("access_lookup_security_sql has no implementation for adapter " ~ adapter.type()) }}
{%- endmacro %}
