{#- A 40-bit integer from the MD5 of a text expression (its first 10 hex digits, 5 bytes): a row's
    fingerprint, to be summed over a table (a change of any hashed value changes the sum; 2^23 rows of 40
    bits fit a bigint). PostgreSQL reads the bytes with decode/get_byte; Redshift the hex with STRTOL. The
    expression is repeated on PostgreSQL: pass a column, not a long expression. -#}
{% macro hash_bigint(text_expression) -%}
    {{ return(adapter.dispatch('hash_bigint', 'unify')(text_expression)) }}
{%- endmacro %}

{% macro default__hash_bigint(text_expression) -%}
    {%- set digest = "decode(substr(md5(" ~ text_expression ~ "), 1, 10), 'hex')" -%}
    (
        cast(get_byte({{ digest }}, 0) as bigint) * 4294967296
        + cast(get_byte({{ digest }}, 1) as bigint) * 16777216
        + cast(get_byte({{ digest }}, 2) as bigint) * 65536
        + cast(get_byte({{ digest }}, 3) as bigint) * 256
        + cast(get_byte({{ digest }}, 4) as bigint)
    )
{%- endmacro %}

{% macro redshift__hash_bigint(text_expression) -%}
    strtol(substring(md5({{ text_expression }}), 1, 10), 16)
{%- endmacro %}
