{#- The fingerprint of dim_contract as a SQL expression: the sum of every row's hash_bigint of the
    columns the contract-in-force rule reads (a scalar subquery: one bigint, 0 when it is empty). Any
    new, changed or removed version changes it. Called from int_orders_contract_in_force, which refs
    dim_contract itself. -#}
{% macro contract_terms_fingerprint_sql() -%}
    {%- set columns = ['contract_version_key', 'contract_id', 'contract_number', 'client_id', 'contract_status',
                       'start_date', 'end_date', 'valid_from', 'valid_to', 'currency_code',
                       'handling_fee_per_order', 'pick_fee_per_unit', 'freight_markup_pct', 'otif_target_pct'] -%}
    {#- Redshift cannot cast a boolean to text: the flags are spelled out -#}
    {%- set parts = ["case when is_version_deleted then 'D' else '-' end",
                     "case when is_contract_deleted then 'D' else '-' end"] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(cast(" ~ column ~ " as varchar(1024)), '~')") -%}
    {%- endfor -%}
    (
        select cast(coalesce(sum({{ unify.hash_bigint('contract_rows.row_text') }}), 0) as bigint)
        from (select {{ parts | join(" || '|' || ") }} as row_text from {{ ref('dim_contract') }}) as contract_rows
    )
{%- endmacro %}

{#- True when the existing `relation` (int_orders_contract_in_force) was computed with other contracts
    than dim_contract holds now, or holds no row: then every order is recomputed. Every row carries the
    fingerprint it was computed with, and every build leaves them all equal (a changed fingerprint
    recomputes every row, in the build's one transaction), so one row tells; one query compares it with
    the current fingerprint (never negative: -1 stands for "no row"). Read while the model compiles, and
    again when its pre-hook renders (the same answer: nothing writes either table in between). False
    when nothing can be read (parsing, unit tests, the offline Redshift gate). -#}
{% macro contract_terms_changed(relation) -%}
    {%- if not execute or model.resource_type == 'unit_test' or var('unify_gate_is_incremental', none) is not none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set compared = run_query('select case when ' ~ unify.contract_terms_differ_sql(relation) ~ ' then 1 else 0 end') -%}
    {{ return(compared.rows[0][0] == 1) }}
{%- endmacro %}

{#- The SQL condition behind contract_terms_changed: true when `relation`'s first row carries another
    fingerprint than dim_contract's now, or it has no row (-1: a fingerprint is never negative). -#}
{% macro contract_terms_differ_sql(relation) -%}
    coalesce((select contracts_fingerprint from {{ relation }} limit 1), -1) <> {{ unify.contract_terms_fingerprint_sql() }}
{%- endmacro %}
