{#- The `source` CTE of an incremental CDC staging model: the raw versions it ranks. A full build reads
    every raw row. An incremental run reads the keys with a raw row loaded since the cutoff
    (incremental_cutoff on the model's `last_loaded_at`: a range of the raw table's `_loaded_at` index,
    or of its sort key on Redshift), then every delivered version of those keys, looked up by key (raw
    keeps them all), so a late, out-of-order change record still ranks as in a full build. Each CTE
    reads the raw table once: PostgreSQL materialises a CTE referenced twice, i.e. would copy the raw
    table. Renders `loaded_keys as (...), source as (...),` (a full build: `source as (...),`), to be
    followed by the model's next CTE. `cutoff`: the model's incremental_cutoff('last_loaded_at'), when it
    has read it already (it also bounds select_changed_rows); read here otherwise. -#}
{% macro cdc_key_versions(relation, key, cutoff=none) -%}
{%- if is_incremental() -%}
loaded_keys as (

    -- keys with a raw row loaded since the cutoff
    select distinct {{ key }}
    from {{ relation }}
    where _loaded_at > {{ cutoff if cutoff is not none else incremental_cutoff('last_loaded_at') }}

),

source as (

    -- every delivered version of those keys, looked up by key
    select raw_rows.*
    from {{ relation }} as raw_rows
    inner join loaded_keys
        on raw_rows.{{ key }} = loaded_keys.{{ key }}

),
{%- else -%}
source as (

    select * from {{ relation }}

),
{%- endif -%}
{%- endmacro %}
