"""Pure value types (stdlib only): the language every other package speaks."""
