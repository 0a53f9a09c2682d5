{#- The load itself (applied to the load ledger source): returns one row per quarantined object that
    no later delivery replaced (unify.ledger_quarantines: the same key loaded later; a DMS re-send under
    a new time-named key within `resend_window_minutes`; a later AppFlow execution of the flow).
    Failing means a raw table is missing the records of a file the loader refused: fix the file and
    run `unify load --retry-quarantined`, or have the source deliver it again. Warn and error
    thresholds are the test's warn_if / error_if on the number of rows (vars
    load_unresolved_quarantines_warn / _error). -#}
{% test quarantined_files_redelivered(model, resend_window_minutes=none) %}

{%- set window = resend_window_minutes if resend_window_minutes is not none
    else var('load_resend_window_minutes', 10) %}

with

quarantines as (

    {{ unify.ledger_quarantines(model, window) | indent(4) }}

)

select
    raw_table,
    object_key,
    etag,
    reason,
    recorded_at
from quarantines
where not is_redelivered

{% endtest %}
