{#- The warehouse relation of a graph node (a model), or none when it is not built in this target. -#}
{% macro existing_node_relation(node) -%}
    {%- if node is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias)) }}
{%- endmacro %}
