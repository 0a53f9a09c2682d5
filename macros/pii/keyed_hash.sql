{#- Pseudonymises a PII value with the project's keyed hash (docs/access-control.md, "The PII key"):
    64 lowercase hex characters, the same on Redshift and PostgreSQL, null in, null out. The key is
    read by the warehouse at run time from the key vault (pii_key_relation: one row, readable by the
    transformer only) through two uncorrelated scalar subqueries, evaluated once per query: the SQL
    dbt compiles, logs and publishes names the vault, never the key. -#}
{% macro keyed_hash(expression) -%}
    {%- set vault = unify.pii_key_relation() -%}
    {{ return(unify.keyed_hash_with(
        expression,
        '(select k.inner_key from ' ~ vault ~ ' as k)',
        '(select k.outer_key from ' ~ vault ~ ' as k)')) }}
{%- endmacro %}
