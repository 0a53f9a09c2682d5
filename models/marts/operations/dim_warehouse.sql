with

warehouses as (

    select * from {{ ref('stg_azureware__warehouses') }}

),

country_regions as (

    select * from {{ ref('country_regions') }}

),

cost_rates as (

    select * from {{ ref('warehouse_cost_rates') }}

),

final as (

    select
        cast(warehouses.warehouse_id as integer) as warehouse_id,
        cast(warehouses.warehouse_code as varchar(64)) as warehouse_code,
        cast(warehouses.warehouse_name as varchar(400)) as warehouse_name,
        cast(warehouses.city as varchar(400)) as city,
        cast(warehouses.country_code as char(2)) as country_code,
        cast(country_regions.country_name as varchar(64)) as country_name,
        cast(country_regions.region as varchar(32)) as region,
        cast(country_regions.currency_code as varchar(3)) as local_currency_code,
        cast(warehouses.time_zone as varchar(256)) as time_zone,
        cast(warehouses.opened_date as date) as opened_date,
        cast(cost_rates.cost_per_order_usd as numeric(10, 4)) as cost_per_order_usd,
        cast(cost_rates.cost_per_unit_usd as numeric(10, 4)) as cost_per_unit_usd,
        warehouses.is_deleted
    from warehouses
    left join country_regions
        on warehouses.country_code = country_regions.country_code
    -- reference data joins on the business code, never on the WMS's surrogate id
    left join cost_rates
        on warehouses.warehouse_code = cost_rates.warehouse_code

)

select * from final
