{#- on-run-start hook: the key vault (pii_key_relation) must hold exactly one key before anything is
    built (docs/access-control.md, "The PII key"). Returns the SQL the hook runs.

    - local target: `unify`'s dbt runs have installed the checkout's key (.unify/pii-hash-key) into an
      empty vault before dbt starts (unify/pii_key.py, prepare_local_key), so every local database
      pseudonymises alike. When dbt runs by hand on a new database the vault is still empty and this
      hook generates a key inside the warehouse (PostgreSQL's strong random generator through
      gen_random_uuid(), hashed to two 256-bit keys): it never leaves the database. A unique index on a
      constant keeps the vault to one row. `unify access rotate-pii-key` re-keys.
    - every other target: the key is installed beforehand from AWS Secrets Manager by `unify access
      install-pii-key` (never by dbt); the build fails here, before any model runs, when the vault
      is missing, holds other than one key, or was filled from another secret than var
      pii_key_secret_id names. Only the key's source and count are read, never the key. -#}
{% macro ensure_pii_key() -%}
    {%- set vault = unify.pii_key_relation() -%}
    {#- dbt also renders hooks for compile and docs generate, which build nothing and may run offline
        (the Redshift gate): only commands that build check the vault. -#}
    {%- if not execute or flags.WHICH not in ('build', 'run', 'seed', 'snapshot', 'test', 'retry') -%}
        {{ return('') }}
    {%- endif -%}
    {%- if target.name == 'local' -%}
        {{ return(unify.local_pii_key_sql(vault)) }}
    {%- endif -%}
    {%- set install = "`unify access install-pii-key --target " ~ target.name ~ "`" -%}
    {%- set found = adapter.get_relation(database=vault.database, schema=vault.schema, identifier=vault.identifier) -%}
    {%- if found is none -%}
        {{ exceptions.raise_compiler_error(
            "No PII key installed for target '" ~ target.name ~ "': " ~ vault ~ " does not exist. Install it "
            ~ "with " ~ install ~ " (docs/access-control.md, 'The PII key').") }}
    {%- endif -%}
    {%- set rows = run_query("select count(*), max(key_source) from " ~ vault).rows -%}
    {%- set count = rows[0][0] | int -%}
    {%- set source = rows[0][1] or '' -%}
    {%- set expected = 'secretsmanager:' ~ var('pii_key_secret_id') ~ ' version ' -%}
    {%- if count != 1 -%}
        {{ exceptions.raise_compiler_error(
            "The PII key vault " ~ vault ~ " holds " ~ count ~ " keys; exactly one is required. Re-install "
            ~ "it with " ~ install ~ ".") }}
    {%- elif not source.startswith(expected) -%}
        {{ exceptions.raise_compiler_error(
            "The PII key in " ~ vault ~ " was installed from '" ~ source ~ "', but target '" ~ target.name
            ~ "' is configured for Secrets Manager secret '" ~ var('pii_key_secret_id') ~ "' "
            ~ "(UNIFY_PII_KEY_SECRET_ID). Install the configured key with " ~ install ~ ".") }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
