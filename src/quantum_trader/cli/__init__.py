"""Command line: thin typer commands over the application."""
from . import sweep_cmd as sweep_cmd  # noqa: E402  # isort: skip  (registers `sweep`)
