"""The loaders: landing zone -> raw tables, and nothing else.

Discover landed objects (landing.py, sources/), plan them into batches, load each batch with its ledger rows
in one transaction (load.py, warehouse/, manifest.py), record what happened (ledger.py). Entry points: the
core `loaders.load.load()` and the AWS Lambda handler (lambda_handler.py). The `unify` tool calls them;
nothing here imports the tool.
"""
