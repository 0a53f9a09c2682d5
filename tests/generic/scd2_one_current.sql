{#- SCD2 integrity: every entity_key has exactly one current version (is_current true). Returns the
    keys with zero or several. Failing means "current" reports lose or double-count the entity. -#}
{% test scd2_one_current(model, entity_key, is_current) %}

select
    {{ entity_key }} as entity_key,
    sum(case when {{ is_current }} then 1 else 0 end) as current_versions
from {{ model }}
group by {{ entity_key }}
having sum(case when {{ is_current }} then 1 else 0 end) <> 1

{% endtest %}
