"""The command line, `lus-adapter`: one module per group of commands, `commands` the root."""

from adapter.cli.commands import app, main

__all__ = ["app", "main"]
