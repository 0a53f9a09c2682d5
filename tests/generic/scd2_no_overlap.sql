{#- SCD2 integrity: the validity windows [valid_from, valid_to) of one entity_key never overlap and
    are never empty or reversed. Returns the offending versions. Failing means an as-of join on this
    model can match two versions (double counting) or none. -#}
{% test scd2_no_overlap(model, entity_key, valid_from, valid_to) %}

with

versions as (

    select
        {{ entity_key }} as entity_key,
        {{ valid_from }} as valid_from,
        {{ valid_to }} as valid_to,
        lead({{ valid_from }}) over (
            partition by {{ entity_key }} order by {{ valid_from }}
        ) as next_valid_from
    from {{ model }}

),

problems as (

    select
        entity_key,
        valid_from,
        valid_to,
        next_valid_from,
        case
            when valid_to is not null and valid_to <= valid_from then 'empty or reversed window'
            when next_valid_from is not null and (valid_to is null or valid_to > next_valid_from)
                then 'overlaps the next version'
        end as problem
    from versions

)

select * from problems
where problem is not null

{% endtest %}
