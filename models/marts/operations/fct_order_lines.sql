{{
    config(
        materialized='incremental',
        unique_key='order_line_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        dist='order_id',
        sort=['order_id'],
        post_hook=[
            "delete from {{ this }} where order_line_id in (
                select order_line_id from {{ ref('stg_azureware__order_lines') }} where is_deleted
            )",
            "delete from {{ this }} where order_id in (
                select order_id from {{ ref('stg_azureware__orders') }} where is_deleted
            )",
        ],
    )
}}
{{
    unify.postgres_indexes([
        {'columns': ['order_line_id'], 'unique': true},
        {'columns': ['source_loaded_at']},
        {'columns': ['order_id']},
    ])
}}
{#- Incremental: a run recomputes every line whose own row or whose order was loaded after the
    high-water mark minus the lookback. Lines whose order has not arrived yet wait in staging (an
    inner join): they appear once the order does, because the order's arrival marks them changed.
    Deleted lines and lines of deleted orders are removed by the post-hook. -#}

with

{% if is_incremental() %}
{%- set cutoff = incremental_cutoff('source_loaded_at') %}

changed_lines as (

    -- lines loaded since the cutoff, and the lines of orders loaded since it: ranges of the staging
    -- tables' last_loaded_at indexes (sort keys on Redshift), then a lookup of lines by order_id
    select order_line_id
    from {{ ref('stg_azureware__order_lines') }}
    where last_loaded_at > {{ cutoff }}

    union all

    select lines_of_orders.order_line_id
    from {{ ref('stg_azureware__orders') }} as loaded_orders
    inner join {{ ref('stg_azureware__order_lines') }} as lines_of_orders
        on loaded_orders.order_id = lines_of_orders.order_id
    where loaded_orders.last_loaded_at > {{ cutoff }}

),

scoped_lines as (

    select *
    from {{ ref('stg_azureware__order_lines') }}
    where order_line_id in (select order_line_id from changed_lines)

),

orders as (

    -- the orders of those lines, looked up by order_id
    select *
    from {{ ref('stg_azureware__orders') }}
    where order_id in (select order_id from scoped_lines)

),

{% else %}

scoped_lines as (

    select * from {{ ref('stg_azureware__order_lines') }}

),

orders as (

    select * from {{ ref('stg_azureware__orders') }}

),

{% endif %}

final as (

    select
        cast(scoped_lines.order_line_id as bigint) as order_line_id,
        cast(scoped_lines.order_id as bigint) as order_id,
        cast(orders.client_id as integer) as client_id,
        cast(orders.warehouse_id as integer) as warehouse_id,
        cast(scoped_lines.product_id as integer) as product_id,
        cast(scoped_lines.line_number as integer) as line_number,
        cast(scoped_lines.qty_ordered as integer) as qty_ordered,
        cast(scoped_lines.qty_picked as integer) as qty_picked,
        cast(scoped_lines.qty_shipped as integer) as qty_shipped,
        scoped_lines.qty_shipped >= scoped_lines.qty_ordered as is_line_in_full,
        cast(orders.shipped_at as timestamp) as order_shipped_at,
        cast({{ dbt.date_trunc('month', 'orders.shipped_at') }} as date) as ship_month,
        cast(greatest(scoped_lines.last_loaded_at, orders.last_loaded_at) as timestamp) as source_loaded_at
    from scoped_lines
    inner join orders
        on scoped_lines.order_id = orders.order_id
    where
        not scoped_lines.is_deleted
        and not orders.is_deleted

)

-- an incremental run writes only the rows that are new or changed (it re-resolves some that are not)
{{ select_changed_rows('final', 'order_line_id', mark_column='source_loaded_at', cutoff=cutoff) }}
