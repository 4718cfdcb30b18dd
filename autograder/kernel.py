"""The grading kernel: ipykernel, started without its debugger.

``python -m autograder.kernel -f CONNECTION_FILE`` is what the grading sandbox runs instead of
``python -m ipykernel_launcher``. Nobody attaches a debugger to a kernel that grades a
submission, and importing debugpy is about a third of ipykernel's start-up: with many
submissions to grade, that is worth skipping. Nothing else differs from a stock kernel.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    # A None entry makes `import debugpy` raise ImportError, which ipykernel takes to mean
    # "no debugger available" (and a notebook that imports debugpy gets a plain ImportError).
    sys.modules.setdefault("debugpy", None)  # type: ignore[arg-type]
    # As ipykernel_launcher does: no working-folder imports while the kernel loads (IPython adds
    # the folder back for the notebook's own code).
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
