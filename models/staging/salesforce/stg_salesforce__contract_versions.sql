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
        id as contract_id,
        lastmodifieddate as last_modified_at,
        accountid as account_id,
        contractnumber as contract_number,
        status as contract_status,
        startdate as start_date,
        enddate as end_date,
        handling_fee_per_order__c as handling_fee_per_order,
        pick_fee_per_unit__c as pick_fee_per_unit,
        freight_markup_pct__c as freight_markup_pct,
        otif_target_pct__c as otif_target_pct,
        currencyisocode as currency_code,
        isdeleted as is_deleted,
        createddate as created_at,
        systemmodstamp as system_modstamp_at,
        last_loaded_at
    from ranked
    where version_rank = 1

)

select * from final
