{#- Redshift: the statements that make sure the client policy for (`lookup`, `column`) exists and may
    read the mapping, as a list. CREATE RLS POLICY has no IF NOT EXISTS: svv_rls_policy says whether it
    exists. The policy is created with the mapping, before any table attaches it (the mapping's
    post-hook, access_lookup_security_sql), so tables built in parallel never race to create it. -#}
{% macro redshift_client_policy_sql(lookup, column) -%}
    {%- set policy = unify.client_policy_name(lookup, column) -%}
    {%- set exists = [] -%}
    {%- if execute -%}
        {%- set found = run_query("select polname from svv_rls_policy where polname = '" ~ policy ~ "'") -%}
        {%- for row in found.rows -%}
            {%- do exists.append(row[0]) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set mapping = lookup.include(database=false) -%}
    {%- set statements = [] -%}
    {%- if not exists -%}
        {%- do statements.append(
            'create rls policy ' ~ policy ~ ' with (' ~ column ~ ' ' ~ var('access_client_key_type', 'integer')
            ~ ') as rls_rows using (rls_rows.' ~ column ~ ' in (select g.client_id from ' ~ mapping
            ~ ' as g where g.user_name = current_user))') -%}
    {%- endif -%}
    {%- do statements.append('grant select on ' ~ mapping ~ ' to rls policy ' ~ policy) -%}
    {{ return(statements) }}
{%- endmacro %}
