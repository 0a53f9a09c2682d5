{#- on-run-end: open each schema this run built (`schemas`, dbt's on-run-end context) to exactly the
    roles its models, seeds and snapshots are granted SELECT to (their `grants` config), close it to
    every other project role and to PUBLIC, and revoke default privileges there so that a table created
    outside dbt is readable by no one until it is granted. Returns the SQL the hook runs. -#}
{% macro grant_schema_usage(schemas) -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set readers = {} -%}
    {%- for node in graph.nodes.values()
        if node.package_name == project_name and node.resource_type in ('model', 'seed', 'snapshot')
        and node.schema in schemas -%}
        {%- set roles = readers.setdefault(node.schema, []) -%}
        {#- roles only: `user:`/`group:` grantees (Redshift) are the platform's to give USAGE to -#}
        {%- for grantee in ((node.config.grants or {}).get('select') or [])
            if not grantee.startswith(('user:', 'group:')) -%}
            {%- set role = grantee[5:] if grantee.startswith('role:') else grantee -%}
            {%- if role not in roles -%}
                {%- do roles.append(role) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for schema in schemas | sort if schema in readers -%}
        {%- do statements.append(unify.schema_usage_sql(schema, readers[schema])) -%}
    {%- endfor -%}
    {{ return(statements | join('\n')) }}
{%- endmacro %}
