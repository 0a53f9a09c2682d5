{#- Project-level override of dbt's apply_grants on PostgreSQL (dbt looks for `postgres__apply_grants` in
    the root project first): the grants config through access_build_grants (reader roles on row-secured
    tables only from the privileged step, outside the local target), then dbt's own implementation. -#}
{% macro postgres__apply_grants(relation, grant_config, should_revoke=True) -%}
    {{ default__apply_grants(relation, unify.access_build_grants(relation, grant_config, should_revoke), should_revoke) }}
{%- endmacro %}
