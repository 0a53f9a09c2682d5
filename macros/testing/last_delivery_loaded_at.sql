{#- Freshness of a daily extract (a source table's loaded_at_query): when the loader last loaded a file
    for `relation`, from the load ledger. An extract of a day with no changes still lands (a header and
    no rows); it proves the feed delivered, although it adds no raw row to time by `_loaded_at`. -#}
{% macro last_delivery_loaded_at(relation) -%}
    select max(recorded_at)
    from {{ source('unify_loader', 'load_ledger') }}
    where
        status = 'loaded'
        and raw_table = '{{ relation.schema }}.{{ relation.identifier }}'
{%- endmacro %}
