{#- Salesforce contracts' select list: AppFlow's Contract fields under the project's names, shared by
    stg_salesforce__contracts and stg_salesforce__contract_versions (as salesforce_account_columns). -#}
{% macro salesforce_contract_columns() -%}
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
        systemmodstamp as system_modstamp_at
{%- endmacro %}
