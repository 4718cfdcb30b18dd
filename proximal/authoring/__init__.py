"""Authoring the course: release exercises/ from solutions/, lint the notebooks."""
