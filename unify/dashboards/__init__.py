"""The two dashboards (Operations Health, Client Profitability): their spec (spec.yml, read by spec.py),
the SQL of each visual (queries.py, also written to analyses/), and the local preview (preview.py:
`unify dashboards --as <person>`, Plotly pages under the warehouse's row-level security). QuickSight is
built from the same spec by unify/quicksight/."""
