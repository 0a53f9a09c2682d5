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
        id as account_id,
        lastmodifieddate as last_modified_at,
        name as account_name,
        type as account_type,
        industry,
        billingcountry as billing_country,
        ownerid as owner_user_id,
        wms_client_code__c as wms_client_code,
        tier__c as tier,
        currencyisocode as currency_code,
        isdeleted as is_deleted,
        createddate as created_at,
        systemmodstamp as system_modstamp_at,
        last_loaded_at
    from ranked
    where version_rank = 1

)

select * from final
