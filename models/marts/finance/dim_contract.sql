{#- SCD2 from the contract versions Salesforce delivered: one row per contract per version, valid from
    its LastModifiedDate (the first version from 1900-01-01) to the next version's. "Terms as of the
    ship date" is a join on valid_from <= shipped_at < valid_to. -#}
with

contract_versions as (

    select * from {{ ref('stg_salesforce__contract_versions') }}

),

contracts as (

    select * from {{ ref('stg_salesforce__contracts') }}

),

client_accounts as (

    -- the one rule tying a client to its account (int_client_accounts): a contract of another account
    -- carrying the same WMS client code belongs to no client, as that account is not the client's
    select * from {{ ref('int_client_accounts') }}

),

windowed as (

    select
        contract_versions.*,
        row_number() over (
            partition by contract_versions.contract_id
            order by contract_versions.last_modified_at
        ) as version_number,
        lead(contract_versions.last_modified_at) over (
            partition by contract_versions.contract_id
            order by contract_versions.last_modified_at
        ) as next_modified_at
    from contract_versions

),

final as (

    select
        cast(
            {{ dbt.hash(dbt.concat(["windowed.contract_id", "'|'",
                                    "to_char(windowed.last_modified_at, 'YYYY-MM-DD HH24:MI:SS.US')"])) }}
            as varchar(32)
        ) as contract_version_key,
        cast(windowed.contract_id as varchar(18)) as contract_id,
        cast(windowed.contract_number as varchar(120)) as contract_number,
        cast(windowed.account_id as varchar(18)) as account_id,
        cast(client_accounts.client_id as integer) as client_id,
        cast(windowed.contract_status as varchar(255)) as contract_status,
        cast(windowed.start_date as date) as start_date,
        cast(windowed.end_date as date) as end_date,
        cast(windowed.handling_fee_per_order as numeric(18, 2)) as handling_fee_per_order,
        cast(windowed.pick_fee_per_unit as numeric(18, 4)) as pick_fee_per_unit,
        cast(windowed.freight_markup_pct as numeric(7, 2)) as freight_markup_pct,
        cast(windowed.otif_target_pct as numeric(7, 2)) as otif_target_pct,
        cast(windowed.currency_code as varchar(3)) as currency_code,
        cast(windowed.version_number as integer) as version_number,
        cast(windowed.last_modified_at as timestamp) as last_modified_at,
        cast(
            case
                when windowed.version_number = 1 then cast('1900-01-01' as timestamp)
                else windowed.last_modified_at
            end as timestamp
        ) as valid_from,
        cast(coalesce(windowed.next_modified_at, cast('9999-12-31' as timestamp)) as timestamp) as valid_to,
        windowed.next_modified_at is null as is_current,
        windowed.is_deleted as is_version_deleted,
        contracts.is_deleted as is_contract_deleted
    from windowed
    inner join contracts
        on windowed.contract_id = contracts.contract_id
    left join client_accounts
        on windowed.account_id = client_accounts.account_id

)

select * from final
