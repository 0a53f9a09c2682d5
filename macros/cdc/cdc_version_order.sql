{#- ORDER BY list that ranks a source's versions of one key newest first (use with row_number() = 1).
    First the source's own ordering: azureware (DMS) the commit time, then the change sequence (which
    orders the changes of one commit time: for one key, commit order and change order agree, as a row's
    changes cannot interleave across transactions); a full-load row carries an empty sequence and its
    task's start time, so the original full load comes before every change captured after it and a
    RELOAD (a later task start) wins over the changes committed before it: the repair a reload is for;
    salesforce SystemModstamp; tms updated_at. Never the
    file name alone (a re-sent older file can land after a newer one). When those tie, the later
    delivery wins: `_loaded_at` (a correction re-delivered under the same object key is a new, later
    delivery), then object key and record number, so the choice is deterministic, the same in every
    staging model and in the incremental paths. -#}
{% macro cdc_version_order(system) -%}
    {%- set by_delivery = '_loaded_at desc, _source_key desc, _source_row desc' -%}
    {%- if system == 'azureware' -%}
        dms_commit_ts desc nulls last, coalesce(dms_change_seq, '') desc, {{ by_delivery }}
    {%- elif system == 'salesforce' -%}
        systemmodstamp desc, {{ by_delivery }}
    {%- elif system == 'tms' -%}
        updated_at desc, {{ by_delivery }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("cdc_version_order: unknown source system '" ~ system ~ "'") }}
    {%- endif -%}
{%- endmacro %}
