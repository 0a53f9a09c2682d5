"""Project Unify's Python side: the local warehouse, source simulators, loaders and project tooling.

The `unify` command (loaders/cli.py) is the entry point; every subcommand calls into a module here.
"""

__version__ = "0.1.0"
