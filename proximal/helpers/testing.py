"""Code that several test cells of the course need (see docs/authoring.md, "Shared test-helper code").

Hidden-test logic stays in the notebooks; this module holds fixtures and probes only. Each module's
functions sit under a comment header naming the module.

Importing this module has no side effects.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

# --- module 03/04 ---


def run_counting_hashes(
    script: str | Path, args: Sequence[str | Path], cwd: str | Path | None = None, timeout: float = 60
) -> tuple[subprocess.CompletedProcess, dict[str, int]]:
    """Run ``python SCRIPT ARGS...``; return the finished process and its SHA-256 digests by kind.

    The counts (``{"leaf": ..., "node": ..., "other": ...}``) come from
    :mod:`proximal.helpers.hashcount`: a digest of bytes that start with ``0x00`` is a ``leaf``, with
    ``0x01`` a ``node`` (RFC 6962's prefixes). Raises ``subprocess.TimeoutExpired`` after ``timeout``.
    """
    from proximal.helpers import hashcount
    from proximal.helpers.commands import python_executable

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "counts.json"
        done = subprocess.run(
            [python_executable(), hashcount.__file__, str(out), str(script), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )
        counts = json.loads(out.read_text()) if out.exists() else {"leaf": 0, "node": 0, "other": 0}
    return done, counts
