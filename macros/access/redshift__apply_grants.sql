{#- Project-level override of dbt-redshift's apply_grants (dbt looks for `redshift__apply_grants` in the
    root project first). The grants config names roles (dbt_project.yml: `select: [unify_analyst]`),
    the same on both engines; on Redshift a bare name is a user, so every grantee without a `user:`,
    `group:` or `role:` prefix becomes `role:<name>` here, then dbt-redshift's own implementation grants
    `to ROLE <name>` and, with the behavior flag redshift_grants_extended (dbt_project.yml), compares
    with svv_relation_privileges so a re-run grants and revokes only the difference. Reader roles on
    row-secured tables are left to the privileged step outside the local target (access_build_grants). -#}
{% macro redshift__apply_grants(relation, grant_config, should_revoke=True) -%}
    {%- set as_roles = {} -%}
    {%- for privilege, grantees in unify.access_build_grants(relation, grant_config, should_revoke).items() -%}
        {%- do as_roles.update({privilege: unify.redshift_role_grantees(grantees)}) -%}
    {%- endfor -%}
    {{ dbt.redshift__apply_grants(relation, as_roles, should_revoke) }}
{%- endmacro %}
