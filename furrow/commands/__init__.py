"""Subcommands of `furrow`: one module per part, each with `register(subparsers)`.

furrow.cli discovers every module here, so a part adds its commands by adding
a module, without touching the others. Keep imports of heavy libraries inside
the handlers so `furrow --help` stays fast.
"""
