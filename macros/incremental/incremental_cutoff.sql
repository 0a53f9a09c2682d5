{#- The incremental cutoff: the model's high-water mark (max of `column` in the existing target) minus
    the lookback (var incremental_lookback_hours). Rows loaded after it are "new"; the lookback
    re-reads load batches that committed late, after a previous run had already moved the mark past
    their load time. A timestamp literal read while the model compiles (a scalar subquery offline; see
    newest_minus_hours). Only valid in the is_incremental() branch. -#}
{% macro incremental_cutoff(column) -%}
    {{ return(unify.newest_minus_hours(this, column, var('incremental_lookback_hours'))) }}
{%- endmacro %}
