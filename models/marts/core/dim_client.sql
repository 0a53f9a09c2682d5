{#- SCD2 from the account versions Salesforce delivered (not from when dbt saw them): one row per
    client per version of its account, valid from the version's LastModifiedDate (the first version
    from 1900-01-01: the earliest known version applies before it) to the next version's. -#}
with

clients as (

    select * from {{ ref('stg_azureware__clients') }}

),

account_versions as (

    select * from {{ ref('stg_salesforce__account_versions') }}

),

users as (

    select * from {{ ref('stg_salesforce__users') }}

),

client_accounts as (

    select * from {{ ref('int_client_accounts') }}

),

versions as (

    select
        client_accounts.client_id,
        account_versions.*,
        row_number() over (
            partition by client_accounts.client_id
            order by account_versions.last_modified_at
        ) as version_number,
        lead(account_versions.last_modified_at) over (
            partition by client_accounts.client_id
            order by account_versions.last_modified_at
        ) as next_modified_at
    from client_accounts
    inner join account_versions
        on client_accounts.account_id = account_versions.account_id
    where not account_versions.is_deleted

),

client_versions as (

    select
        clients.client_id,
        clients.client_code,
        clients.client_name,
        clients.is_active as is_client_active,
        clients.is_deleted as is_client_deleted,
        versions.account_id,
        versions.account_name,
        versions.industry,
        versions.billing_country,
        versions.tier,
        versions.owner_user_id,
        case
            when versions.version_number is null or versions.version_number = 1
                then cast('1900-01-01' as timestamp)
            else versions.last_modified_at
        end as valid_from,
        coalesce(versions.next_modified_at, cast('9999-12-31' as timestamp)) as valid_to
    from clients
    left join versions
        on clients.client_id = versions.client_id

),

final as (

    select
        cast(
            {{ dbt.hash(dbt.concat(["cast(client_versions.client_id as varchar)", "'|'",
                                    "to_char(client_versions.valid_from, 'YYYY-MM-DD HH24:MI:SS.US')"])) }}
            as varchar(32)
        ) as client_version_key,
        cast(client_versions.client_id as integer) as client_id,
        cast(client_versions.client_code as varchar(80)) as client_code,
        cast(client_versions.client_name as varchar(800)) as client_name,
        client_versions.is_client_active,
        client_versions.is_client_deleted,
        cast(client_versions.account_id as varchar(18)) as account_id,
        cast(client_versions.account_name as varchar(1020)) as account_name,
        cast(client_versions.industry as varchar(255)) as industry,
        cast(client_versions.billing_country as varchar(320)) as billing_country,
        cast(client_versions.tier as varchar(255)) as tier,
        cast(client_versions.owner_user_id as varchar(18)) as account_manager_user_id,
        cast(users.username as varchar(320)) as account_manager_username,
        cast(users.user_name as varchar(484)) as account_manager_name,
        cast(client_versions.valid_from as timestamp) as valid_from,
        cast(client_versions.valid_to as timestamp) as valid_to,
        client_versions.valid_to = cast('9999-12-31' as timestamp) as is_current
    from client_versions
    left join users
        on client_versions.owner_user_id = users.user_id

)

select * from final
