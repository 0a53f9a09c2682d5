{#- ORDER BY list that ranks a source's versions of one key newest first (use with row_number() = 1).
    azureware (DMS): change sequence (full-load rows carry an empty one and come first), commit time,
    then file and row as the last tie-breakers; never the file name alone (a re-sent older file can
    land after a newer one). salesforce: SystemModstamp, then file and row. tms: updated_at, then file
    and row. -#}
{% macro cdc_version_order(system) -%}
    {%- if system == 'azureware' -%}
        coalesce(dms_change_seq, '') desc, dms_commit_ts desc nulls last, _source_key desc, _source_row desc
    {%- elif system == 'salesforce' -%}
        systemmodstamp desc, _source_key desc, _source_row desc
    {%- elif system == 'tms' -%}
        updated_at desc, _source_key desc, _source_row desc
    {%- else -%}
        {{ exceptions.raise_compiler_error("cdc_version_order: unknown source system '" ~ system ~ "'") }}
    {%- endif -%}
{%- endmacro %}
