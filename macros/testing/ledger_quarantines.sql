{#- A query over the load ledger (`ledger`): one row per quarantined object (key and ETag) with
    `is_redelivered`, true when a later delivery replaced it:

    - any source: the same object key was loaded later (a retry after a fix, or corrected bytes
      written under the same key, e.g. a TMS extract re-run);
    - DMS (raw_azureware): a task restart re-sends a batch under a new, time-named key: a file of the
      same table whose name time (YYYYMMDD-HHMMSS...) is at or after the quarantined file's and at most
      `resend_window_minutes` later was loaded (LOAD* full-load files have no time: same key only);
    - AppFlow (raw_salesforce): an incremental flow's next successful execution pulls again what a
      failed one did not deliver: a part of another execution of the same flow was loaded in the same
      load batch or a later one.

    The ledger cannot prove that a re-send under a new key holds the quarantined records; these are
    the sources' documented re-send behaviours (docs/warehouse-model.md, "Loud when a number goes
    wrong"). Only loads recorded at most a day before the oldest quarantine are compared. -#}
{% macro ledger_quarantines(ledger, resend_window_minutes) -%}
    {%- set name_time -%}
        cast(
            substring(dms_name, 1, 4) || '-' || substring(dms_name, 5, 2) || '-' || substring(dms_name, 7, 2)
            || ' ' || substring(dms_name, 10, 2) || ':' || substring(dms_name, 12, 2) || ':'
            || substring(dms_name, 14, 2) as timestamp
        )
    {%- endset -%}
    {%- set object_folder = "regexp_replace(object_key, '/[^/]*$', '')" -%}
    {%- set dms_name -%}
        case
            when raw_table like 'raw_azureware.%'
                then regexp_substr(object_key, '[0-9]{8}-[0-9]{6}[0-9]*[.][A-Za-z]+$')
        end
    {%- endset -%}
    with

    -- The ledger grows by every landed file, forever: the key parsing below reads only the quarantined
    -- rows and the loads of their tables from a day before the oldest quarantine (none: nothing at all).
    quarantine_attempts as (

        select
            object_key,
            etag,
            raw_table,
            reason,
            recorded_at,
            row_number() over (partition by object_key, etag order by recorded_at desc) as attempt_rank
        from {{ ledger }}
        where status = 'quarantined'

    ),

    quarantined_rows as (

        -- an object retried and quarantined again counts once, at its latest attempt
        select
            *,
            {{ object_folder }} as object_folder,
            {{ dms_name }} as dms_name
        from quarantine_attempts
        where attempt_rank = 1

    ),

    quarantined as (

        select
            *,
            case when dms_name is not null then {{ name_time }} end as name_time
        from quarantined_rows

    ),

    loaded_rows as (

        select
            object_key,
            raw_table,
            recorded_at,
            {{ object_folder }} as object_folder,
            {{ dms_name }} as dms_name
        from {{ ledger }}
        where
            status = 'loaded'
            and raw_table in (select raw_table from quarantined)
            and recorded_at >= (
                select {{ dbt.dateadd('day', -1, 'min(recorded_at)') }} from quarantined
            )

    ),

    loaded as (

        select
            *,
            case when dms_name is not null then {{ name_time }} end as name_time
        from loaded_rows

    ),

    replacements as (

        select distinct
            quarantined.object_key,
            quarantined.etag
        from quarantined
        inner join loaded
            on
                quarantined.object_key = loaded.object_key
                or quarantined.raw_table = loaded.raw_table
        where
            (quarantined.object_key = loaded.object_key and loaded.recorded_at > quarantined.recorded_at)
            or (
                quarantined.raw_table like 'raw_azureware.%'
                and loaded.object_key <> quarantined.object_key
                and loaded.name_time >= quarantined.name_time
                and loaded.name_time
                <= {{ dbt.dateadd('minute', resend_window_minutes | int, 'quarantined.name_time') }}
            )
            or (
                quarantined.raw_table like 'raw_salesforce.%'
                and loaded.object_folder <> quarantined.object_folder
                and loaded.recorded_at >= quarantined.recorded_at
            )

    )

    select
        quarantined.object_key,
        quarantined.etag,
        quarantined.raw_table,
        quarantined.reason,
        quarantined.recorded_at,
        replacements.object_key is not null as is_redelivered
    from quarantined
    left join replacements
        on
            quarantined.object_key = replacements.object_key
            and quarantined.etag = replacements.etag
{%- endmacro %}
