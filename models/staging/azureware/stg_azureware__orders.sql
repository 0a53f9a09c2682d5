with

source as (

    select * from {{ source('azureware', 'orders') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by orderid
            order by
                dms_change_seq desc nulls last,
                dms_commit_ts desc,
                _source_key desc,
                _source_row desc
        ) as version_rank
    from source

),

final as (

    select
        orderid as order_id,
        ordernumber as order_number,
        clientid as client_id,
        warehouseid as warehouse_id,
        ordertype as order_type,
        priority as order_priority,
        status as order_status,
        createdat as created_at,
        requiredshipby as required_ship_by_at,
        promiseddeliverydate as promised_delivery_date,
        shippedat as shipped_at,
        left(destinationpostcode, 3) as destination_postcode_prefix,
        destinationcountry as destination_country_code,
        modifiedat as modified_at,
        op = 'D' as is_deleted,
        dms_commit_ts as source_committed_at,
        _loaded_at as loaded_at
    from ranked
    where version_rank = 1

)

select * from final
