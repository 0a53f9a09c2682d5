{#- A row-level rule: returns every row where `expression` is not true (false or null). Failing
    means rows break a business rule the model promises (e.g. margin = revenue - cost). Use the
    test's `where` config to scope it. -#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not coalesce(({{ expression }}), false)

{% endtest %}
