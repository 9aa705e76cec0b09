"""Checks for the exercises of notebook 06."""

__all__: list[str] = []
