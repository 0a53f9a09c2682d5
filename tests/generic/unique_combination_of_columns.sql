{#- Composite primary key: no two rows share the same values in combination_of_columns. Returns one
    row per duplicated combination (with how many rows share it). Failing means the model's grain is
    broken: a join fanned out, or CDC resolution kept two versions of one key. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count(*) as rows_with_this_key
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
