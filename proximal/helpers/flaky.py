"""A flaky shell command for module 03: it fails (or hangs) a scripted number of times, then works.

Run it like any command-line program::

    python -m proximal.helpers.flaky --state /tmp/flaky.json --plan fail,fail,ok

Every run reads and bumps a counter in the **state file** (a small JSON file), so consecutive runs
behave differently, exactly like a command that depends on a service that is still starting up.
Run number ``k`` (1 for the first) follows the ``k``-th entry of ``--plan``; once the plan is used
up, every run succeeds:

* ``fail``: print ``flaky: run k failed (service not ready)`` on stderr and exit with status 1
  (``fail:N`` exits with status N instead);
* ``hang``: sleep for ``--hang-seconds`` seconds (default 3), then succeed late: a run that a
  caller without a timeout would wait for;
* ``ok``: print ``ok: run k`` on stdout and exit with status 0.

From Python, :class:`FlakyCommand` writes the state file in a folder of your choice and gives you
the argument list for :func:`subprocess.run` and the number of runs so far::

    import subprocess
    from proximal.helpers.flaky import FlakyCommand

    cmd = FlakyCommand(tmp_dir, ["fail", "ok"])
    subprocess.run(cmd.args, capture_output=True, text=True).returncode   # 1
    subprocess.run(cmd.args, capture_output=True, text=True).stdout       # 'ok: run 2\\n'
    cmd.runs                                                              # 2

Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["FlakyCommand", "main", "parse_plan"]

_KINDS = ("fail", "hang", "ok")


def parse_plan(text: str | Sequence[str]) -> list[str]:
    """The plan as a list of steps (``"fail,hang,ok"`` or ``["fail", "hang", "ok"]``); checks each step."""
    steps = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    for step in steps:
        kind, _, code = step.partition(":")
        if kind not in _KINDS or (code and (kind != "fail" or not code.isdigit() or int(code) == 0)):
            raise ValueError(f"unknown step {step!r}: use fail, fail:N (N > 0), hang or ok")
    return steps


def _next_run(state: Path) -> int:
    """Bump the run counter in the state file and return this run's number (1 for the first)."""
    runs = json.loads(state.read_text())["runs"] if state.exists() else 0
    runs += 1
    tmp = state.with_name(state.name + ".tmp")
    tmp.write_text(json.dumps({"runs": runs}))
    os.replace(tmp, state)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Run once: follow the plan's step for this run number; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m proximal.helpers.flaky", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--state", required=True, type=Path, help="JSON file that counts the runs")
    parser.add_argument("--plan", default="", help="comma-separated steps: fail, fail:N, hang, ok")
    parser.add_argument("--hang-seconds", type=float, default=3.0, help="how long a 'hang' step sleeps")
    args = parser.parse_args(argv)
    try:
        plan = parse_plan(args.plan)
    except ValueError as exc:
        parser.error(str(exc))
    run = _next_run(args.state)
    step = plan[run - 1] if run <= len(plan) else "ok"
    kind, _, code = step.partition(":")
    if kind == "fail":
        print(f"flaky: run {run} failed (service not ready)", file=sys.stderr)
        return int(code or 1)
    if kind == "hang":
        time.sleep(args.hang_seconds)
    print(f"ok: run {run}")
    return 0


class FlakyCommand:
    """A flaky command whose state file lives in ``folder``; ``args`` runs it, ``runs`` counts runs."""

    def __init__(self, folder: str | Path, plan: str | Sequence[str], hang_seconds: float = 3.0) -> None:
        self.plan = parse_plan(plan)
        self.state = Path(folder) / f"flaky-{id(self):x}.json"
        self.hang_seconds = float(hang_seconds)

    @property
    def args(self) -> list[str]:
        """The argument list for :func:`subprocess.run`: a Python, then this file as a script.

        The same as ``python -m proximal.helpers.flaky ...``, but it also works where the course's
        package cannot be imported by the Python that may be started (see :mod:`proximal.helpers.commands`).
        """
        from proximal.helpers.commands import (
            python_executable,
        )  # not at the top: this file also runs as a script

        return [
            python_executable(),
            __file__,
            "--state",
            str(self.state),
            "--plan",
            ",".join(self.plan),
            "--hang-seconds",
            f"{self.hang_seconds:g}",
        ]

    @property
    def runs(self) -> int:
        """How many times the command has been started so far."""
        return json.loads(self.state.read_text())["runs"] if self.state.exists() else 0

    def reset(self) -> None:
        """Forget the runs: the next run follows the plan from its first step again."""
        self.state.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"FlakyCommand(plan={self.plan!r}, runs={self.runs})"


if __name__ == "__main__":
    sys.exit(main())
