{#- The statement (on a new line, after the caller's own) that grants SELECT on `relation` to the reader roles (var
    access_client_reader_roles) that the node's grants config names: the grants the build leaves to the
    privileged step (access_build_grants). Empty when it names none. -#}
{% macro reader_grants_sql(relation, node) -%}
    {%- set grantees = [] -%}
    {%- for grantee in ((node.config.grants or {}).get('select') or []) -%}
        {%- set name = grantee.split(':')[-1] -%}
        {%- if name in var('access_client_reader_roles') and name not in grantees -%}
            {%- do grantees.append(name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not grantees -%}
        {{ return('') }}
    {%- endif -%}
    {{ return('\ngrant select on ' ~ relation.include(database=false) ~ ' to ' ~ unify.access_role_grantees(grantees) ~ ';') }}
{%- endmacro %}
