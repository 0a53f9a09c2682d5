{#- The privileged step (`unify access apply`, i.e. `dbt run-operation apply_access`), run after every
    build on the targets where the build itself has no security-admin rights (access_privileged_in_build),
    as a security admin: a Redshift user with sys:secadmin (plus SELECT WITH GRANT OPTION on the
    row-secured tables, access_admin_grant_sql) or a superuser. In this order, each part idempotent:

    1. the project's roles, and IGNORE RLS for the bypass roles (create_access_roles_sql);
    2. no CREATE on schema public for PUBLIC (Redshift grants it by default);
    3. raw schemas closed to all but the loader and the transformer (raw_schema_access_sql);
    4. the mapping: the client policy created and allowed to read it (Redshift), its own policies and
       its readers (PostgreSQL);
    5. every row-secured model that exists: its policy attached and row-level security on
       (client_row_security_sql), and only then SELECT for the reader roles its grants config names.

    A table the build replaced since the last run is unreadable by readers until step 5 reaches it
    (access_build_grants keeps reader grants out of builds): the gap fails closed. Returns nothing;
    logs what it applied. -#}
{% macro apply_access() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set readers = var('access_client_reader_roles') -%}
    {%- set done = [] -%}
    {%- do run_query(unify.create_access_roles_sql()) -%}
    {%- do done.append('roles') -%}
    {%- do run_query('revoke create on schema public from public') -%}
    {%- do done.append('public schema') -%}
    {%- set raw = unify.existing_raw_schemas() -%}
    {%- if raw -%}
        {%- do run_query(unify.raw_schema_access_sql(raw)) -%}
        {%- do done.append('raw schemas ' ~ (raw | join(', '))) -%}
    {%- endif -%}
    {%- set mapping_node = graph.nodes.get('model.' ~ project_name ~ '.access_client_grants') -%}
    {%- set mapping = unify.existing_node_relation(mapping_node) -%}
    {%- if mapping is none -%}
        {{ log("apply_access: " ~ (done | join(', ')) ~ "; the mapping access_client_grants is not built yet: "
               ~ "no table policy applied (run it again after the build)", info=true) }}
        {{ return('') }}
    {%- endif -%}
    {%- do run_query(unify.access_lookup_security_sql(mapping) ~ unify.reader_grants_sql(mapping, mapping_node)) -%}
    {%- do done.append('mapping') -%}
    {%- set secured = [] -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.package_name == project_name
        and (node.config.meta or {}).get('rls_client_column') -%}
        {%- set relation = unify.existing_node_relation(node) -%}
        {%- if relation is not none -%}
            {%- set column = unify.access_identifier(node.config.meta['rls_client_column'], 'rls_client_column') -%}
            {%- do run_query(unify.client_row_security_sql(relation, column, mapping) ~ unify.reader_grants_sql(relation, node)) -%}
            {%- do secured.append(node.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ log("apply_access: " ~ (done | join(', ')) ~ "; row-level security and reader grants on "
           ~ (secured | length) ~ " tables: " ~ (secured | sort | join(', ')), info=true) }}
    {{ return('') }}
{%- endmacro %}
