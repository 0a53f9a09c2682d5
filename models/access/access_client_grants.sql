{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    on_schema_change='fail',
    pre_hook="{% if is_incremental() %}delete from {{ this }}{% endif %}",
    post_hook="{{ unify.secure_access_lookup() }}",
    grants={'select': [var('access_transformer_role')]
        + (var('access_client_reader_roles') if target.type != 'redshift' else [])},
    dist='all',
    sort=['user_name', 'client_id']
) }}
{#- PostgreSQL only (dbt-redshift has no indexes: an `indexes` config failed the build there). -#}
{{ unify.postgres_indexes([{'columns': ['user_name', 'client_id']}]) }}
{#- The row-level security mapping: which warehouse user may see which client. Incremental on purpose,
    and never fully refreshed: every run replaces its rows (pre-hook delete, then insert, in one
    transaction, so readers never see it empty), but the table itself is never dropped: Redshift
    refuses to drop a table an RLS policy reads, and PostgreSQL's policies refer to the table itself. -#}
{%- set user_name_prefix = var('access_user_name_prefix') -%}
with

clients as (

    select * from {{ ref('stg_azureware__clients') }}

),

users as (

    select * from {{ ref('stg_salesforce__users') }}

),

team_grants as (

    select * from {{ ref('access_team_grants') }}

),

client_accounts as (

    -- the client's account and its owner, by the rule dim_client uses
    select * from {{ ref('int_client_accounts') }}

),

owner_grants as (

    -- an account manager sees the clients whose account they own, while their user is active
    select
        users.username as login_name,
        client_accounts.client_id,
        'account_owner' as grant_source,
        'account_manager' as team,
        false as is_all_clients
    from client_accounts
    inner join users
        on client_accounts.owner_user_id = users.user_id
    where
        users.is_active
        and not users.is_deleted

),

team_client_grants as (

    -- seed access_team_grants: a person (or service) sees every client, or the one client named
    select
        lower(team_grants.user_name) as login_name,
        clients.client_id,
        'team_grant' as grant_source,
        team_grants.team,
        team_grants.client_code is null as is_all_clients
    from team_grants
    inner join clients
        on coalesce(team_grants.client_code, clients.client_code) = clients.client_code

),

all_grants as (

    select * from owner_grants
    union all
    select * from team_client_grants

),

final as (

    select
        cast('{{ user_name_prefix }}' || login_name as varchar(320)) as user_name,
        cast(login_name as varchar(320)) as login_name,
        cast(client_id as integer) as client_id,
        cast(grant_source as varchar(16)) as grant_source,
        cast(team as varchar(32)) as team,
        is_all_clients
    from all_grants

)

select * from final
