with

source as (

    select * from {{ source('salesforce', 'users') }}

),

{{ cdc_ranked('salesforce', 'id') }}

final as (

    select
        id as user_id,
        name as user_name,
        {{ keyed_hash('lower(trim(email))') }} as email_key,
        lower(username) as username,
        title,
        department,
        isactive as is_active,
        isdeleted as is_deleted,
        createddate as created_at,
        lastmodifieddate as last_modified_at,
        systemmodstamp as system_modstamp_at,
        last_loaded_at
    from ranked
    where version_rank = 1

)

select * from final
