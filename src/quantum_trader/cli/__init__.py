"""Command line: thin typer commands over the application."""
