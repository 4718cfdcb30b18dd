"""Helpers that the Proximal course notebooks import.

Importing this package has no side effects; each submodule is imported on its own,
e.g. ``from proximal.timeline import plot_timeline``.
"""

__all__: list[str] = []
