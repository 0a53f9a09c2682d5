{#- The keyed hash construction, one rendering per engine, given SQL expressions for the value and the
    two 256-bit keys (each 64 lowercase hex characters, i.e. exactly one SHA-256 block):

        keyed_hash(value) = hex(SHA-256(outer_key || hex(SHA-256(inner_key || utf8(value)))))

    HMAC's nested structure (RFC 2104) with independent inner and outer keys (NMAC), each filling the
    first block exactly as HMAC's padded keys do; the inner digest reaches the outer hash as its
    64-character hex text instead of 32 raw bytes, because Redshift's SHA2 hashes VARCHAR only (no
    VARBYTE input) and raw digest bytes are not valid UTF-8. Hex encoding is injective and of fixed
    length, so the outer hash still sees a distinct fixed-length message per inner digest: the NMAC
    pseudorandomness argument holds unchanged (docs/access-control.md). Both engines hash the
    UTF-8 bytes of the concatenation; `||` with a null is null on both, so null in, null out. -#}
{% macro keyed_hash_with(expression, inner_key, outer_key) -%}
    {{ return(adapter.dispatch('keyed_hash_with', 'unify')(expression, inner_key, outer_key)) }}
{%- endmacro %}

{#- Redshift: SHA2(varchar, 256) returns the digest as lowercase hex text. -#}
{% macro redshift__keyed_hash_with(expression, inner_key, outer_key) -%}
    sha2({{ outer_key }} || sha2({{ inner_key }} || ({{ expression }}), 256), 256)
{%- endmacro %}

{#- PostgreSQL: sha256(bytea) (core since 11; pgcrypto is not in pgserver's bundle), over the UTF-8
    bytes of the text, hex-encoded. -#}
{% macro postgres__keyed_hash_with(expression, inner_key, outer_key) -%}
    encode(sha256(convert_to({{ outer_key }} || encode(sha256(convert_to({{ inner_key }} || ({{ expression }}), 'UTF8')), 'hex'), 'UTF8')), 'hex')
{%- endmacro %}

{% macro default__keyed_hash_with(expression, inner_key, outer_key) -%}
    {{ exceptions.raise_compiler_error("keyed_hash has no implementation for adapter " ~ adapter.type()) }}
{%- endmacro %}
