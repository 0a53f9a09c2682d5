{{
    config(
        materialized='incremental',
        unique_key='order_line_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        dist='order_id',
        sort=['order_id'],
        post_hook=[
            "delete from {{ this }}
            where order_line_id in (
                select order_line_id from {{ ref('stg_azureware__order_lines') }} where is_deleted
            )
            or order_id in (
                select order_id from {{ ref('stg_azureware__orders') }} where is_deleted
            )",
        ],
    )
}}
{#- Incremental: a run recomputes every line whose own row or whose order was loaded after the
    high-water mark minus the lookback. Lines whose order has not arrived yet wait in staging (an
    inner join): they appear once the order does, because the order's arrival marks them changed.
    Deleted lines and lines of deleted orders are removed by the post-hook. -#}

with

order_lines as (

    select * from {{ ref('stg_azureware__order_lines') }}

),

orders as (

    select * from {{ ref('stg_azureware__orders') }}

),

{% if is_incremental() %}

changed_lines as (

    select order_line_id
    from order_lines
    where last_loaded_at > {{ incremental_cutoff('source_loaded_at') }}

    union all

    select order_lines.order_line_id
    from order_lines
    inner join orders
        on order_lines.order_id = orders.order_id
    where orders.last_loaded_at > {{ incremental_cutoff('source_loaded_at') }}

),

scoped_lines as (

    select *
    from order_lines
    where order_line_id in (select order_line_id from changed_lines)

),

{% else %}

scoped_lines as (

    select * from order_lines

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

select * from final
