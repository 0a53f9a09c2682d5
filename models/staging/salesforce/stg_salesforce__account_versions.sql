{#- Every version of every account that Salesforce delivered (raw keeps them all), one per
    LastModifiedDate: the history dim_client's validity windows come from, independent of when a
    dbt run happened to see each version. -#}
with

source as (

    select * from {{ source('salesforce', 'accounts') }}

),

{{ cdc_ranked('salesforce', 'id, lastmodifieddate') }}

final as (

    select
        {{ salesforce_account_columns() }},
        last_loaded_at
    from ranked
    where version_rank = 1

)

select * from final
