{#- The statements that secure `relation`'s rows by `column` (a client id): a reader role sees a row
    only when the mapping `lookup` (access_client_grants) lists the client for current_user; deny by
    default (no mapping, no rows); the bypass roles (the transformer) read every row. The predicate is a
    set membership on an uncorrelated subquery of the small, indexed mapping (no function per row), so
    the planner runs it once and the table's own sort keys and indexes stay usable. -#}
{% macro client_row_security_sql(relation, column, lookup) -%}
    {{ return(adapter.dispatch('client_row_security_sql', 'unify')(relation, column, lookup)) }}
{%- endmacro %}

{#- Redshift: one shared policy per (mapping, column), created once (svv_rls_policy) and allowed to read
    the mapping (GRANT SELECT ... TO RLS POLICY, every run: cheap, idempotent); attached to each reader
    role still missing on this table (svv_rls_attached_policy: a rebuilt table has none); RLS switched
    on unless it is (svv_rls_relation). The transformer reads through GRANT IGNORE RLS
    (create_access_roles). -#}
{% macro redshift__client_row_security_sql(relation, column, lookup) -%}
    {%- set statements = unify.redshift_client_policy_sql(lookup, column) -%}
    {%- set policy = unify.client_policy_name(lookup, column) -%}
    {%- set attached = [] -%}
    {%- set rls_on = [] -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select grantee from svv_rls_attached_policy where relschema = '" ~ relation.schema
            ~ "' and relname = '" ~ relation.identifier ~ "' and polname = '" ~ policy
            ~ "' and granteekind = 'role'") -%}
        {%- for row in found.rows -%}
            {%- do attached.append(row[0]) -%}
        {%- endfor -%}
        {%- set found = run_query(
            "select is_rls_on from svv_rls_relation where relschema = '" ~ relation.schema
            ~ "' and relname = '" ~ relation.identifier ~ "'") -%}
        {%- for row in found.rows if row[0] in (true, 't', 'true') -%}
            {%- do rls_on.append(true) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set missing = [] -%}
    {%- for role in var('access_client_reader_roles') if role not in attached -%}
        {%- do missing.append(role) -%}
    {%- endfor -%}
    {%- set table = relation.include(database=false) -%}
    {%- if missing -%}
        {%- do statements.append('attach rls policy ' ~ policy ~ ' on ' ~ table ~ ' to '
                                 ~ unify.access_role_grantees(missing)) -%}
    {%- endif -%}
    {%- if not rls_on -%}
        {%- do statements.append('alter table ' ~ table ~ ' row level security on') -%}
    {%- endif -%}
    {{ return(statements | join(';\n') ~ ';') }}
{%- endmacro %}

{#- PostgreSQL: policies belong to the table, so a rebuilt table gets them again; drop-and-create
    inside dbt's transaction re-applies them atomically (postgres_select_policies_sql). Readers of the
    mapping see their own rows only (access_lookup_security_sql), which is all the subquery needs. -#}
{% macro postgres__client_row_security_sql(relation, column, lookup) -%}
    {%- set statements = unify.postgres_select_policies_sql(relation, 'unify_client_rows',
        column ~ ' in (select g.client_id from ' ~ lookup ~ ' as g where g.user_name = current_user)') -%}
    {{ return(statements | join(';\n') ~ ';') }}
{%- endmacro %}

{% macro default__client_row_security_sql(relation, column, lookup) -%}
    {{ exceptions.raise_compiler_error("client_row_security_sql has no implementation for adapter " ~ adapter.type()) }}
{%- endmacro %}
