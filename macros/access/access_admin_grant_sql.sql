{#- Redshift, outside the local target: the statement by which the table's owner (the build) lets the
    security admin that runs the privileged step (var access_admin_user, env UNIFY_ACCESS_ADMIN_DB_USER)
    grant SELECT on `relation` to the reader roles after attaching its policy: SELECT WITH GRANT OPTION,
    which Redshift gives to users only. sys:secadmin alone may attach policies and switch row-level
    security on, but not grant privileges on another user's table. Empty when the var is unset (the
    privileged step then runs as a superuser) and on PostgreSQL (only the owner or a superuser may
    manage a table's policies there). -#}
{% macro access_admin_grant_sql(relation) -%}
    {%- set admin = var('access_admin_user', '') -%}
    {%- if target.type != 'redshift' or not admin -%}
        {{ return('') }}
    {%- endif -%}
    {{ return('grant select on ' ~ relation.include(database=false) ~ ' to ' ~ adapter.quote(admin) ~ ' with grant option') }}
{%- endmacro %}
