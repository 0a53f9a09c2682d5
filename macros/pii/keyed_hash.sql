{#- A keyed SHA-256 of a value, as 64 lowercase hex characters: the same input and key give the same
    hash on both engines, so pseudonymised values still join. The key comes from the var pii_hash_key
    (env UNIFY_PII_HASH_KEY). Null in, null out. -#}
{% macro keyed_hash(expression) -%}
    {{ return(adapter.dispatch('keyed_hash', 'unify')(expression)) }}
{%- endmacro %}

{% macro redshift__keyed_hash(expression) -%}
    sha2('{{ var("pii_hash_key") }}' || '|' || ({{ expression }}), 256)
{%- endmacro %}

{% macro postgres__keyed_hash(expression) -%}
    encode(sha256(convert_to('{{ var("pii_hash_key") }}' || '|' || ({{ expression }}), 'UTF8')), 'hex')
{%- endmacro %}

{% macro default__keyed_hash(expression) -%}
    {{ exceptions.raise_compiler_error("keyed_hash has no implementation for adapter " ~ adapter.type()) }}
{%- endmacro %}
