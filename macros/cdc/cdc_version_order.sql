{#- ORDER BY list that ranks a source's versions of one key newest first (use with row_number() = 1).
    First the source's own ordering: azureware (DMS) the change sequence (full-load rows carry an empty
    one and come first), then the commit time; salesforce SystemModstamp; tms updated_at. Never the
    file name alone (a re-sent older file can land after a newer one). When those tie, the later
    delivery wins: `_loaded_at` (a correction re-delivered under the same object key is a new, later
    delivery), then object key and record number, so the choice is deterministic, the same in every
    staging model and in the incremental paths. -#}
{% macro cdc_version_order(system) -%}
    {%- set by_delivery = '_loaded_at desc, _source_key desc, _source_row desc' -%}
    {%- if system == 'azureware' -%}
        coalesce(dms_change_seq, '') desc, dms_commit_ts desc nulls last, {{ by_delivery }}
    {%- elif system == 'salesforce' -%}
        systemmodstamp desc, {{ by_delivery }}
    {%- elif system == 'tms' -%}
        updated_at desc, {{ by_delivery }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("cdc_version_order: unknown source system '" ~ system ~ "'") }}
    {%- endif -%}
{%- endmacro %}
