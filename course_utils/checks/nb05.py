"""Checks for the exercises of notebook 05."""

__all__: list[str] = []
