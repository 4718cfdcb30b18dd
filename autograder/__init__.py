"""The grading engine of the Proximal course: merge, guard, execute, score; sandboxed batches.

Nothing here knows the course's content: which lessons exist, what the helpers are called or what
an exercise teaches all come from the course (see :mod:`proximal`) or from ``nbgrader_config.py``.
Importing this package has no side effects and imports nothing heavy.
"""

from __future__ import annotations

# Set in the environment of every kernel that `proximal check` starts (nbgrader sets NBGRADER_EXECUTION).
CHECKING_ENV = "PROXIMAL_CHECKING"
