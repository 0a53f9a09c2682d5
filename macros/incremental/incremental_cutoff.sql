{#- The incremental cutoff: the model's high-water mark (max of `column` in the existing target) minus
    the lookback (var incremental_lookback_hours). Rows loaded after it are "new"; the lookback
    re-reads load batches that committed late, after a previous run had already moved the mark past
    their load time. Read once while the model compiles and written into its SQL as a literal, so each
    "loaded since the cutoff" filter is an index range scan (PostgreSQL) or a zone-map-pruned scan of
    the sort key (Redshift); when it cannot be read (compiling offline), the same value as a scalar
    subquery. Only valid in the is_incremental() branch. -#}
{% macro incremental_cutoff(column) -%}
    {%- set cutoff = dbt.dateadd('hour', -1 * var('incremental_lookback_hours') | int, 'max(' ~ column ~ ')') -%}
    {%- set literal = unify.timestamp_literal_from(this, cutoff) -%}
    {%- if literal -%}
        {{ literal }}
    {%- else -%}
        (select {{ cutoff }} from {{ this }})
    {%- endif -%}
{%- endmacro %}
