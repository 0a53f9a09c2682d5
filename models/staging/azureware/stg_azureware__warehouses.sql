with

source as (

    select * from {{ source('azureware', 'warehouses') }}

),

{{ cdc_ranked('azureware', 'warehouseid') }}

final as (

    select
        warehouseid as warehouse_id,
        warehousecode as warehouse_code,
        name as warehouse_name,
        city,
        countrycode as country_code,
        timezone as time_zone,
        openeddate as opened_date,
        modifiedat as modified_at,
        op = 'D' as is_deleted,
        dms_commit_ts as source_committed_at,
        last_loaded_at
    from ranked
    where version_rank = 1

)

select * from final
