{#- A role name from the project's vars, checked to be a plain lower-case identifier so that it can be
    written into GRANT, ATTACH and CREATE POLICY statements unquoted. -#}
{% macro access_role_name(role) -%}
    {%- if not modules.re.match('^[a-z_][a-z0-9_]*$', role | string) -%}
        {{ exceptions.raise_compiler_error(
            "access control: role name " ~ (role | string) ~ " must be a lower-case identifier "
            ~ "(letters, digits, underscores): see vars access_* in dbt_project.yml") }}
    {%- endif -%}
    {{ return(role | string) }}
{%- endmacro %}
