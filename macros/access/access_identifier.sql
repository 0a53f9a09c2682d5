{#- A name the access macros write into GRANT, ATTACH, CREATE POLICY statements unquoted (a role from
    the project's vars, a model's meta rls_client_column), checked to be a plain lower-case identifier;
    fails to compile otherwise. `what` says which setting it came from, for the message. -#}
{% macro access_identifier(name, what) -%}
    {%- if not modules.re.match('^[a-z_][a-z0-9_]*$', name | string) -%}
        {{ exceptions.raise_compiler_error(
            "access control: " ~ what ~ " " ~ (name | string) ~ " must be a lower-case identifier "
            ~ "(letters, digits, underscores)") }}
    {%- endif -%}
    {{ return(name | string) }}
{%- endmacro %}
