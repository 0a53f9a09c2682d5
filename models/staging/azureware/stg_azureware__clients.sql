{{ config(materialized='table') }}
{#- A table, not a view (like the Salesforce staging models, dbt_project.yml): the dimensions and the
    access mapping join it to those, and a view's `version_rank = 1` filter is estimated at one row. -#}
with

source as (

    select * from {{ source('azureware', 'clients') }}

),

{{ cdc_ranked('azureware', 'clientid') }}

final as (

    select
        clientid as client_id,
        clientcode as client_code,
        name as client_name,
        isactive as is_active,
        modifiedat as modified_at,
        op = 'D' as is_deleted,
        dms_commit_ts as source_committed_at,
        last_loaded_at
    from ranked
    where version_rank = 1

)

select * from final
