{#- Post-hook of the marts and reporting folders (dbt_project.yml): row-level security on the model
    being built, from ONE line in its yml, `meta: {rls_client_column: client_id}`. Re-applied by every
    run: a table rebuild creates a new table (the old one's policies go with it), an incremental run
    re-applies idempotently. A model with a client_id column and neither that line nor
    `meta: {rls_exempt: "<why>"}` fails the build: no client-scoped table is ever left open by mistake.

    At parse time the ref() below makes every model with this hook depend on the mapping
    access_client_grants, so the mapping (and the policy it backs) exists before any table needs it.
    Returns the SQL the hook runs. Where the build runs without security-admin rights
    (access_privileged_in_build: every target but local) the checks above still fail the build, but
    the policy is attached by the privileged step (apply_access) and readers are granted only then
    (access_build_grants): the hook only lets the security admin do that (access_admin_grant_sql). -#}
{% macro apply_client_row_security() -%}
    {%- set lookup = ref('access_client_grants') -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set meta = config.get('meta') or {} -%}
    {%- set column = meta.get('rls_client_column') -%}
    {%- if not column -%}
        {%- if not meta.get('rls_exempt') -%}
            {%- for col in adapter.get_columns_in_relation(this) if col.name | lower == 'client_id' -%}
                {{ exceptions.raise_compiler_error(
                    "access control: " ~ this ~ " has a client_id column but no row-level security. Add "
                    ~ "`meta: {rls_client_column: client_id}` to its config in the yml (or "
                    ~ "`meta: {rls_exempt: \"<why>\"}` if every reader may see every row)") }}
            {%- endfor -%}
        {%- endif -%}
        {{ return('') }}
    {%- endif -%}
    {%- if config.get('materialized') not in ('table', 'incremental') -%}
        {{ exceptions.raise_compiler_error(
            "access control: " ~ this ~ " is materialized as " ~ config.get('materialized') ~ "; row-level "
            ~ "security is applied to tables and incremental models only (a view would run with its "
            ~ "owner's rights and bypass the policy on PostgreSQL)") }}
    {%- endif -%}
    {%- set column = unify.access_identifier(column, 'rls_client_column') -%}
    {%- if not unify.access_privileged_in_build() -%}
        {{ return(unify.access_admin_grant_sql(this)) }}  {#- the policy comes from the privileged step -#}
    {%- endif -%}
    {{ return(unify.client_row_security_sql(this, column, lookup)) }}
{%- endmacro %}
