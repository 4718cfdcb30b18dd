"""The Proximal course package, split by role.

* :mod:`proximal.helpers`: what the notebooks import (the local HTTP service, plots, data generators);
* :mod:`proximal.learner`: the learner's commands (check, hints, progress, workspace);
* :mod:`proximal.instructor`: the instructor's commands (grading reports);
* :mod:`proximal.authoring`: release and lint of the course's notebooks;
* :mod:`proximal.cli`: the ``proximal`` command.

The grading engine itself is the top-level package :mod:`autograder`. The public API of this
package is :func:`check`, called from the last cell of every exercise notebook. Importing it has
no side effects and imports nothing heavy.
"""

from __future__ import annotations

import os

from autograder import CHECKING_ENV


def check(what: str | None = None, *, notebook: str | None = None) -> None:
    """Check your work and show a table per exercise.

    * ``check()``: the saved notebook, in a fresh kernel, against the full tests: the final word
      (save first);
    * ``check("fetch_all")``: that exercise only, in this kernel, at once (nothing to save);
    * ``check("path/to/notebook.ipynb")``: another saved notebook, as ``check()`` does.

    Inside a check or a grading run it returns at once, before importing anything, so that a
    notebook which calls it can neither recurse nor slow grading down.
    """
    if _being_checked():
        print("(check skipped: this notebook is being checked or graded right now)")
        return
    if what is not None and not what.endswith(".ipynb"):
        from proximal.learner.instant import check_in_kernel

        check_in_kernel(what, notebook)
        return
    path = what or notebook or _current_notebook()
    if path is None:
        print("Could not tell which notebook this is. Run: check('your-notebook.ipynb')")
        return
    if os.environ.get("PROXIMAL_HUB"):  # on a workshop hub: visible tests here, the hidden ones on submit
        from proximal.workshop.notebook import check_in_notebook_on_hub

        check_in_notebook_on_hub(path)
        return
    from proximal.learner.check import check_in_notebook

    check_in_notebook(path)


def _being_checked() -> bool:
    """Is this kernel running the notebook for a check or a grading (where calls to the checker do nothing)?"""
    return bool(os.environ.get(CHECKING_ENV) or os.environ.get("NBGRADER_EXECUTION"))


def _current_notebook() -> str | None:
    """The notebook this kernel belongs to: Jupyter tells the kernel through ``JPY_SESSION_NAME``."""
    from pathlib import Path

    names = [os.environ.get("JPY_SESSION_NAME")]
    try:
        from IPython import get_ipython

        shell = get_ipython()
        names.append(shell.user_ns.get("__session__") if shell else None)
    except ImportError:
        pass
    for name in names:
        if isinstance(name, str) and name.endswith(".ipynb"):
            # Jupyter may give a path relative to the server's root; the kernel runs in the notebook's folder
            for candidate in (Path(name), Path(Path(name).name)):
                if candidate.is_file():
                    return str(candidate.resolve())
    return None


__all__ = ["check"]
