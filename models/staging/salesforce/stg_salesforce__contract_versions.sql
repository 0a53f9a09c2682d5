{#- Every version of every contract that Salesforce delivered (raw keeps them all), one per
    LastModifiedDate (several deliveries of one modification keep the newest SystemModstamp): the
    history "contract terms as of the ship date" reads, independent of when a dbt run saw it. -#}
with

source as (

    select * from {{ source('salesforce', 'contracts') }}

),

{{ cdc_ranked('salesforce', 'id, lastmodifieddate') }}

final as (

    select
        {{ salesforce_contract_columns() }},
        last_loaded_at
    from ranked
    where version_rank = 1

)

select * from final
