"""Where student code runs during grading.

For now: nbgrader's per-cell timeout from the course config, and a kernel that runs in the
submission's scratch folder. Further layers (memory, processes, network, filesystem) plug in here.
"""

from __future__ import annotations

from pathlib import Path


def configure(config, private_root: Path) -> None:
    """Adjust a worker's nbgrader config so its kernels run sandboxed."""


def protections() -> list[str]:
    """One line per protection in force, and per protection this machine cannot give."""
    return ["per-cell timeout (nbgrader Execute.timeout)", "a scratch copy of the course per submission"]
