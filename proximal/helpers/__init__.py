"""Helpers that the course's notebooks import: the local HTTP service, plots, data generators.

Importing this package has no side effects; each submodule is imported on its own,
e.g. ``from proximal.helpers.timeline import plot_timeline``.
"""
