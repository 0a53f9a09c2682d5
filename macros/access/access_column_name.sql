{#- A column name from a model's meta (rls_client_column), checked to be a plain lower-case identifier
    so that it can be written into policies unquoted. -#}
{% macro access_column_name(column) -%}
    {%- if not modules.re.match('^[a-z_][a-z0-9_]*$', column | string) -%}
        {{ exceptions.raise_compiler_error(
            "access control: rls_client_column " ~ (column | string) ~ " must be a lower-case column name") }}
    {%- endif -%}
    {{ return(column | string) }}
{%- endmacro %}
