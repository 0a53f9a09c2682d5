with

source as (

    select * from {{ source('salesforce', 'contracts') }}

),

{{ cdc_ranked('salesforce', 'id') }}

final as (

    select
        id as contract_id,
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
        lastmodifieddate as last_modified_at,
        systemmodstamp as system_modstamp_at,
        last_loaded_at
    from ranked
    where version_rank = 1

)

select * from final
