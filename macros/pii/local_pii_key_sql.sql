{#- PostgreSQL, local target only: the statements that create the key vault `vault` when missing
    (schema and table closed to PUBLIC, readable by the transformer role) and fill it with a key
    generated in the warehouse when it is empty. gen_random_uuid() (core PostgreSQL) draws 122 bits
    from the server's strong random source; three of them hashed with SHA-256 give each 256-bit key.
    The columns are those `unify access install-pii-key` writes (unify/pii_key.py, VAULT_DDL); key_id
    is the keyed hash of the constant 'unify pii key id' (unify/pii_key.py, KEY_ID_LABEL), its first 16
    characters: it tells keys apart in logs and checks and reveals nothing of them. -#}
{% macro local_pii_key_sql(vault) -%}
    {%- set schema = adapter.quote(vault.schema) -%}
    {%- set transformer = unify.access_role_grantee(var('access_transformer_role')) -%}
    {%- set random_key = "encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text "
                         ~ "|| gen_random_uuid()::text, 'UTF8')), 'hex')" -%}
    {%- set statements = [
        'create schema if not exists ' ~ schema,
        'revoke all on schema ' ~ schema ~ ' from public',
        'create table if not exists ' ~ vault ~ ' (key_id varchar(16) not null, inner_key varchar(64) not null, '
            ~ 'outer_key varchar(64) not null, key_source varchar(512) not null, installed_at timestamp not null)',
        'create unique index if not exists pii_hash_key_one_row on ' ~ vault ~ ' ((true))',
        'revoke all on ' ~ vault ~ ' from public',
        'grant usage on schema ' ~ schema ~ ' to ' ~ transformer,
        'grant select on ' ~ vault ~ ' to ' ~ transformer,
        'insert into ' ~ vault ~ ' (key_id, inner_key, outer_key, key_source, installed_at) select left('
            ~ unify.keyed_hash_with("'unify pii key id'", 'g.inner_key', 'g.outer_key')
            ~ ", 16), g.inner_key, g.outer_key, 'generated in the local warehouse', now() at time zone 'UTC' "
            ~ 'from (select ' ~ random_key ~ ' as inner_key, ' ~ random_key ~ ' as outer_key) as g on conflict do nothing',
    ] -%}
    {{ return(statements | join(';\n') ~ ';') }}
{%- endmacro %}
