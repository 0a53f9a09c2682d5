{#- The key vault of the target's environment: `<target schema>_pii.pii_hash_key`, one row holding the
    keyed hash's two keys (docs/access-control.md, "The PII key"). Environments are separated by
    schema, so each (a developer's, a CI run's, production) has its own key.

    On every target but `local` the key is installed from AWS Secrets Manager by `unify access
    install-pii-key` and var pii_key_secret_id (env UNIFY_PII_KEY_SECRET_ID) names that secret: without
    it this macro fails, so any parse, compile or build of a model that pseudonymises PII fails
    before anything runs. The secret's name is configuration; the key itself never passes through
    dbt. -#}
{% macro pii_key_relation() -%}
    {%- if target.name != 'local' and not var('pii_key_secret_id', '') -%}
        {{ exceptions.raise_compiler_error(
            "PII key not configured for target '" ~ target.name ~ "': set UNIFY_PII_KEY_SECRET_ID to the "
            ~ "AWS Secrets Manager secret holding the pseudonymisation key, and install the key with "
            ~ "`unify access install-pii-key --target " ~ target.name ~ "` (docs/access-control.md, 'The PII key'). "
            ~ "Only the local target generates its own key.") }}
    {%- endif -%}
    {{ return(api.Relation.create(database=target.database, schema=target.schema ~ '_pii',
                                  identifier='pii_hash_key', type='table')) }}
{%- endmacro %}
