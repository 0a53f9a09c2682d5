{#- Redshift RLS policies are database objects, shared by every table they are attached to, and each
    reads one mapping table (per environment: schemas separate environments). Name: the mapping's
    schema, the column filtered, and a version to bump when the predicate changes (a policy's columns
    and lookup cannot be altered while attached). -#}
{% macro client_policy_name(lookup, column) -%}
    {{ return(lookup.schema ~ '__' ~ column ~ '_rows_v1') }}
{%- endmacro %}
