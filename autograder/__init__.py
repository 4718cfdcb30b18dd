"""Grading code for the Proximal course: release, lint, the learner's check, the instructor's grade.

The public API is small: :func:`check`, called from the last cell of every exercise notebook.
Importing this package has no side effects and imports nothing heavy.
"""

from __future__ import annotations

import os

# Set in the environment of every kernel that `proximal check` starts (nbgrader sets NBGRADER_EXECUTION).
CHECKING_ENV = "PROXIMAL_CHECKING"


def check(notebook: str | None = None) -> None:
    """Check the current notebook (save it first) and print a table per exercise.

    Inside a check or a grading run it returns at once, before importing anything, so that a
    notebook which calls it can neither recurse nor slow grading down.
    """
    if os.environ.get(CHECKING_ENV) or os.environ.get("NBGRADER_EXECUTION"):
        print("(check skipped: this notebook is being checked or graded right now)")
        return
    from autograder.check import check_in_notebook

    check_in_notebook(notebook)


__all__ = ["check"]
