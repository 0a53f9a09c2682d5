{{ config(
    grants={'select': [var('access_transformer_role'), 'unify_quicksight']},
    dist='all'
) }}
{#- QuickSight's row-level security rules dataset, from the same mapping as the warehouse's policies
    (access_client_grants, by login_name: QuickSight user names carry no warehouse prefix), in
    QuickSight's permission format: UserName, GroupName and the dashboards' client key column,
    client_key (text: QuickSight matches rules on string fields only; the client id as text, the same
    value every client-scoped reporting table carries); an empty (null) client_key means every client.
    client_id, the integer the warehouse's own policies use, stays for SQL checks; QuickSight's rules
    dataset does not import it. Service accounts are not dashboard viewers
    and get no rule; a viewer without a rule sees nothing. Read by the QuickSight service only (grants
    above): it tells who sees which client. -#}
with

grants as (

    select * from {{ ref('access_client_grants') }}

),

viewer_grants as (

    select * from grants
    where team != 'service'

),

all_clients_viewers as (

    select distinct login_name
    from viewer_grants
    where is_all_clients

),

client_rules as (

    -- one rule per client for viewers who do not already see every client
    select distinct
        viewer_grants.login_name,
        viewer_grants.client_id
    from viewer_grants
    left join all_clients_viewers
        on viewer_grants.login_name = all_clients_viewers.login_name
    where all_clients_viewers.login_name is null

),

rules as (

    select
        login_name,
        cast(null as integer) as client_id
    from all_clients_viewers
    union all
    select
        login_name,
        client_id
    from client_rules

),

final as (

    select
        login_name as "UserName",
        cast(null as varchar(256)) as "GroupName",
        cast(client_id as varchar(11)) as client_key,
        client_id
    from rules

)

select * from final
