"""Typed, frozen settings from the environment (CONTRACT §2) and the checks that name a bad value and its fix."""
