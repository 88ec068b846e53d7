"""Signals: strategies as plug-ins that score all symbols of a chunk at once."""
