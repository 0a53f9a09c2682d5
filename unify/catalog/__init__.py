"""The data catalog: the dbt docs site plus column-level lineage, and `unify docs serve|generate`.

- `lineage.py`: column-level lineage derived with sqlglot from dbt's compiled SQL, written next to the
  docs as target/column_lineage.json and target/lineage.html (`write_lineage(target_path)`).
- `completeness.py`: description coverage of the manifest (what the catalog tests hold at 100%).
- `server.py`: a small static HTTP server for the target folder (docs site + lineage page).
- `cli.py`: the `unify docs` subcommand.
"""
