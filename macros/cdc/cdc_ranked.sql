{#- The `ranked` CTE of a staging model: every delivered version of a key (rows of the CTE `versions`)
    ranked newest first by the source's own ordering, then by delivery (cdc_version_order), with
    `version_rank` (1 = the version that wins) and `last_loaded_at` (the latest load time among the
    key's raw rows). The one CDC ranking of every staging model: DMS, AppFlow (Salesforce) and TMS.
    `partition_by` is the key (or the key and LastModifiedDate for the *_versions models);
    `loaded_at` the expression whose maximum is last_loaded_at (inventory balances carry the previous
    value forward). Renders `ranked as (...),`, to be followed by the model's next CTE. -#}
{% macro cdc_ranked(system, partition_by, versions='source', loaded_at='_loaded_at') -%}
ranked as (

    select
        *,
        row_number() over (
            partition by {{ partition_by }}
            order by {{ unify.cdc_version_order(system) }}
        ) as version_rank,
        max({{ loaded_at }}) over (partition by {{ partition_by }}) as last_loaded_at
    from {{ versions }}

),
{%- endmacro %}
