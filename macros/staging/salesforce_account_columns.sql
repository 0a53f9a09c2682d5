{#- The select list of a staging model of Salesforce accounts, from AppFlow's raw columns (API names,
    lowercased) to the project's names: one list for the current accounts and their versions, so a field
    added or renamed in Salesforce is mapped once. Read from cdc_ranked's `ranked` (its last_loaded_at is
    not a Salesforce field: the models add it). -#}
{% macro salesforce_account_columns() -%}
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
        systemmodstamp as system_modstamp_at
{%- endmacro %}
