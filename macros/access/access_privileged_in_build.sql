{#- Whether this run may apply what needs security-admin rights itself (docs/access-control.md, "Who
    needs what"): roles, IGNORE RLS, raw schemas' grants, row-level security policies, and reader grants
    on row-secured tables. True on the local target only, where dbt runs as the warehouse's superuser
    (and PostgreSQL lets only a table's owner or a superuser manage its policies). On every other target
    (dev, ci, prod) a build needs ordinary privileges on its own schemas; the privileged step
    `unify access apply` (dbt run-operation apply_access, run by a security admin) applies the rest. -#}
{% macro access_privileged_in_build() -%}
    {{ return(target.name == 'local') }}
{%- endmacro %}
