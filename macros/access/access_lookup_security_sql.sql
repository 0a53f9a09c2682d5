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
    {%- set statements = unify.postgres_select_policies_sql(lookup, 'unify_own_grants', 'user_name = current_user') -%}
    {{ return(statements | join(';\n') ~ ';') }}
{%- endmacro %}

{% macro default__access_lookup_security_sql(lookup) -%}
    {{ exceptions.raise_compiler_error("access_lookup_security_sql has no implementation for adapter " ~ adapter.type()) }}
{%- endmacro %}
