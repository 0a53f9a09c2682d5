{#- A number column holds numbers: fails with every row whose value is NaN or infinite. PostgreSQL's numeric
    accepts 'NaN' and 'Infinity' in a TMS extract (Redshift's DECIMAL refuses them, and its loader widens
    the column instead), and one NaN freight cost makes every sum over it NaN: a meaningless figure in the
    marts, which this test stops at staging. -#}
{% test finite_number(model, column_name) %}

select *
from {{ model }}
where {{ unify.not_finite(column_name) }}

{% endtest %}
