{#- A role as the grantee of GRANT, REVOKE, ALTER DEFAULT PRIVILEGES and ATTACH RLS POLICY: Redshift
    needs the keyword ROLE (a bare name means a user there), PostgreSQL has only roles. -#}
{% macro access_role_grantee(role) -%}
    {{ return(adapter.dispatch('access_role_grantee', 'unify')(unify.access_identifier(role, 'role name (vars access_* in dbt_project.yml)'))) }}
{%- endmacro %}

{% macro redshift__access_role_grantee(role) -%}
    {{ return('role ' ~ role) }}
{%- endmacro %}

{% macro default__access_role_grantee(role) -%}
    {{ return(role) }}
{%- endmacro %}
