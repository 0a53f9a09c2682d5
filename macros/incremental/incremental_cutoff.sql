{#- A scalar subquery: the incremental model's high-water mark (max of `column` in the existing
    target) minus the lookback (var incremental_lookback_hours). Rows loaded after it are "new"; the
    lookback re-reads load batches that committed late, after a previous run had already moved the
    mark past their load time. Only valid in the is_incremental() branch. -#}
{% macro incremental_cutoff(column) -%}
    (
        select {{ dbt.dateadd('hour', -1 * var('incremental_lookback_hours') | int, 'max(' ~ column ~ ')') }}
        from {{ this }}
    )
{%- endmacro %}
