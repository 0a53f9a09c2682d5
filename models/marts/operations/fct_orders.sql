with

orders as (

    select * from {{ ref('stg_azureware__orders') }}

),

final as (

    select
        order_id,
        order_number,
        client_id,
        warehouse_id,
        order_status,
        created_at,
        required_ship_by_at,
        promised_delivery_date,
        shipped_at,
        shipped_at is not null and shipped_at <= required_ship_by_at as is_shipped_on_time
    from orders
    where not is_deleted

)

select * from final
