{#-
    Project-level override of dbt's is_incremental(), for the offline Redshift gate
    (`unify check redshift`, unify/checks/). Documented in macros/gate/_gate__macros.yml.

    Unless the var `unify_gate_is_incremental` is set, it returns exactly what dbt's own
    is_incremental() returns: normal builds are unchanged. The gate sets the var:
      false -> False without asking the warehouse (no connection needed to compile);
      true  -> True for every incremental model, so the incremental branch is compiled and checked.
-#}
{% macro is_incremental() %}
    {%- set forced = var('unify_gate_is_incremental', none) -%}
    {%- if forced is none -%}
        {{ return(dbt.is_incremental()) }}
    {%- else -%}
        {{ return(execute and forced in (true, 'true', 'True', 1, '1')
                  and model.config.materialized == 'incremental') }}
    {%- endif -%}
{% endmacro %}
