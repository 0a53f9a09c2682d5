with

source as (

    select * from {{ source('salesforce', 'accounts') }}

),

{{ cdc_ranked('salesforce', 'id') }}

final as (

    select
        {{ salesforce_account_columns() }},
        last_loaded_at
    from ranked
    where version_rank = 1

)

select * from final
