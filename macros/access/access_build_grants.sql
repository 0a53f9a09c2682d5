{#- The grants config a build applies to the relation being built (dbt's apply_grants, through the
    adapter overrides redshift__apply_grants and postgres__apply_grants). Unchanged where the build is
    privileged (access_privileged_in_build) or the model holds nothing row-secured. For a row-secured
    model (meta rls_client_column) or the mapping (meta rls_mapping) on the other targets, the reader
    roles (var access_client_reader_roles) are taken out: only the privileged step grants them, after
    the table's policy is attached and row-level security is on, so a table rebuilt by dbt is unreadable
    by readers until then (fail closed). Readers the relation already holds (an incremental run keeps
    the table and what the privileged step gave it) are kept, so dbt never revokes them either (the
    adapters report privileges upper case: compared case-insensitively, as dbt's own diff does). -#}
{% macro access_build_grants(relation, grant_config, should_revoke) -%}
    {%- set meta = config.get('meta') or {} -%}
    {%- if unify.access_privileged_in_build() or not (meta.get('rls_client_column') or meta.get('rls_mapping')) -%}
        {{ return(grant_config) }}
    {%- endif -%}
    {%- set readers = var('access_client_reader_roles') -%}
    {%- set held = [] -%}
    {%- if should_revoke and execute -%}
        {%- set current = adapter.standardize_grants_dict(run_query(get_show_grant_sql(relation))) -%}
        {%- for privilege, grantees in current.items() if privilege | lower == 'select' -%}
            {%- for grantee in grantees -%}
                {%- do held.append(grantee.split(':')[-1]) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set result = {} -%}
    {%- for privilege, grantees in (grant_config or {}).items() -%}
        {%- set kept = [] -%}
        {%- for grantee in ([grantees] if grantees is string else grantees) -%}
            {%- set name = grantee.split(':')[-1] -%}
            {%- if name not in readers or name in held -%}
                {%- do kept.append(grantee) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do result.update({privilege: kept}) -%}
    {%- endfor -%}
    {{ return(result) }}
{%- endmacro %}
