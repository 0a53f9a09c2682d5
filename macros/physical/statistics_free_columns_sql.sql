{#- PostgreSQL: the statements, each ended by ';', that keep planner statistics off the columns of
    `relation` that name a client, when the model being built is row-secured (meta rls_client_column):
    its client column and every column of var access_client_identifying_columns it has (keys and names
    of clients, their accounts, contracts and products). SET STATISTICS 0 makes ANALYZE skip a column
    from then on; statistics collected before (a table built before this rule, or by an earlier
    definition) are deleted too when the build runs as a superuser (pg_statistic is the superuser's),
    which the local target's does. Nothing for other models. Run before `analyze` (analyze_built_table). -#}
{% macro statistics_free_columns_sql(relation) -%}
    {%- set column = (config.get('meta') or {}).get('rls_client_column') -%}
    {%- if not column or not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set wanted = [column | lower] + (var('access_client_identifying_columns') | map('lower') | list) -%}
    {%- set present = [] -%}
    {%- for col in adapter.get_columns_in_relation(relation) if col.name | lower in wanted -%}
        {%- do present.append(col.name | lower) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for name in present -%}
        {%- do statements.append('alter table ' ~ relation ~ ' alter column ' ~ adapter.quote(name) ~ ' set statistics 0;') -%}
    {%- endfor -%}
    {%- if present -%}
        {%- do statements.append("do $unify_statistics$ begin if current_setting('is_superuser') = 'on' then "
            ~ "delete from pg_catalog.pg_statistic where starelid = '" ~ relation ~ "'::regclass and staattnum in "
            ~ "(select attnum from pg_catalog.pg_attribute where attrelid = '" ~ relation ~ "'::regclass and attname in ('"
            ~ (present | join("', '")) ~ "')); end if; end $unify_statistics$;") -%}
    {%- endif -%}
    {{ return(statements | join('\n')) }}
{%- endmacro %}
