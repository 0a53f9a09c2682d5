{#- Several roles as a grantee list: "role a, role b" on Redshift, "a, b" on PostgreSQL. -#}
{% macro access_role_grantees(roles) -%}
    {%- set grantees = [] -%}
    {%- for role in roles -%}
        {%- do grantees.append(unify.access_role_grantee(role)) -%}
    {%- endfor -%}
    {{ return(grantees | join(', ')) }}
{%- endmacro %}
