{#- The ONE rule that ties a WMS client to its Salesforce account: the oldest non-deleted account whose
    WMS_Client_Code__c equals the client's ClientCode (several may match; created date, then id, picks
    one). dim_client takes the account's history and owner from here, and the row-level security mapping
    (access_client_grants) the owner: the dimension and the policies can never disagree on whose client
    it is. -#}
with

clients as (

    select * from {{ ref('stg_azureware__clients') }}

),

accounts as (

    select * from {{ ref('stg_salesforce__accounts') }}

),

ranked as (

    select
        clients.client_id,
        accounts.account_id,
        accounts.owner_user_id,
        row_number() over (
            partition by clients.client_id
            order by accounts.created_at, accounts.account_id
        ) as account_rank
    from clients
    inner join accounts
        on clients.client_code = accounts.wms_client_code
    where not accounts.is_deleted

),

final as (

    select
        client_id,
        account_id,
        owner_user_id
    from ranked
    where account_rank = 1

)

select * from final
