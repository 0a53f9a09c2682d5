{#- The order_id of every order fct_orders recomputed after `cutoff` (its source_loaded_at) and of every
    order the WMS deleted after it (stg_azureware__orders' last_loaded_at): the orders an incremental
    model reading fct_orders by order must recompute or remove. -#}
{% macro orders_changed_since(cutoff) -%}
    select order_id from {{ ref('fct_orders') }} where source_loaded_at > {{ cutoff }}
    union all
    select order_id from {{ ref('stg_azureware__orders') }} where is_deleted and last_loaded_at > {{ cutoff }}
{%- endmacro %}
