{#- The incremental cutoff: the model's high-water mark (max of `column` in the existing target) minus
    the lookback, var incremental_lookback_minutes (env UNIFY_INCREMENTAL_LOOKBACK_MINUTES, a whole
    number of minutes, default 0). Rows loaded after it are "new". The loaders stamp `_loaded_at`
    strictly rising in commit order (under the load lock, held until the batch commits: the clock, or
    just after the newest committed batch's stamp), so a batch the previous run could not see carries a
    later stamp than every row that run saw, whatever the clock does: 0 misses nothing; a raised lookback
    covers raw rows written by hand (docs/warehouse-model.md, "Incremental models"). A timestamp literal
    read while the model compiles (a scalar subquery offline; see newest_minus). Only valid in the
    is_incremental() branch. -#}
{% macro incremental_cutoff(column) -%}
    {%- set minutes = var('incremental_lookback_minutes') | string | trim -%}
    {%- if not minutes.isdigit() -%}
        {{ exceptions.raise_compiler_error("incremental_lookback_minutes (env UNIFY_INCREMENTAL_LOOKBACK_MINUTES) must "
                                           ~ "be a whole number of minutes, not '" ~ minutes ~ "'") }}
    {%- endif -%}
    {{ return(unify.newest_minus(this, column, minutes, 'minute')) }}
{%- endmacro %}
