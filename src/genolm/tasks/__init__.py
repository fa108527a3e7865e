"""The declarations of every user-facing task (see :mod:`genolm.core.registry`).

Each module declares its command group and its tasks: typed functions whose parameters are
:func:`~genolm.core.registry.Opt` declarations. The CLI (``genolm.cli.main``), the REST API and the MCP
server are generated from them. A task function parses nothing itself: it calls one function of the
domain's API and prints a one-line summary with :func:`~genolm.core.registry.echo`.
"""
