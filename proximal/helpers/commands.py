"""Which Python to start a command-line script with, from a notebook (modules 03 and 04).

In a notebook, ``sys.executable`` is the course's Python. In the grading sandbox the kernel runs as
an unprivileged user who may not be allowed to start that file again (it can live under a private
folder such as ``/root``); the system's ``python3`` is then the one to use. Scripts the course starts
this way (``proximal/helpers/flaky.py``, a learner's ``merkle_sample.py``) use the standard library only.

Importing this module has no side effects.
"""

from __future__ import annotations

import os
import shutil
import sys

__all__ = ["python_executable"]


def python_executable() -> str:
    """``sys.executable`` if this user may run it, else ``python3`` from ``PATH``."""
    if sys.executable and os.access(sys.executable, os.X_OK):
        return sys.executable
    found = shutil.which("python3") or shutil.which("python")
    if found is None:
        raise RuntimeError("no Python interpreter that this user may run was found")
    return found
