with

users as (

    select * from {{ ref('stg_salesforce__users') }}

),

accounts as (

    select * from {{ ref('stg_salesforce__accounts') }}

),

owned_accounts as (

    select
        owner_user_id,
        count(*) as owned_account_count
    from accounts
    where not is_deleted
    group by owner_user_id

),

final as (

    select
        cast(users.user_id as varchar(18)) as user_id,
        cast(users.username as varchar(320)) as username,
        cast(users.user_name as varchar(484)) as account_manager_name,
        cast(users.title as varchar(320)) as title,
        cast(users.department as varchar(320)) as department,
        cast(users.email_key as varchar(64)) as email_key,
        users.is_active,
        users.is_deleted,
        cast(coalesce(owned_accounts.owned_account_count, 0) as integer) as owned_account_count
    from users
    left join owned_accounts
        on users.user_id = owned_accounts.owner_user_id

)

select * from final
