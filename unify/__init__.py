"""The `unify` tool: the project's command line and everything it drives around the loaders.

The CLI (cli.py) and the local warehouse, the demo pipeline, `simulate`, `bench`, `catalog`, `checks`,
`access` and `alerting`. Tools use the loaders package; the loaders never import this one.
"""

__version__ = "0.1.0"
