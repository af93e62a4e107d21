"""heartgrpo.cli: the ``heartgrpo`` command (entry point ``heartgrpo.cli.app:app``).

:mod:`~heartgrpo.cli.app` holds the typer app and the stage commands; the other modules hold
command groups (``rubrics``, ``verifier``, ``judge``) and the shared options.
"""
