"""Print, per exercise notebook, the seconds to execute the solution and to `proximal check` it.

Run with `make bench`. Figures, not a test: compare them with the course's target of well under a
minute per notebook on a 2-core laptop.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.notebooks import find_course_root, source_notebooks
from proximal.learner.check import run_check


def execute_seconds(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    # the kernel's own log (its TCP transport warning) would interleave with the table
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        resources={"metadata": {"path": str(path.parent)}},
    ).execute(env={**os.environ, "PROXIMAL_CHECKING": "1"})
    return time.perf_counter() - started


def check_seconds(root: Path, source: Path) -> float:
    # check a copy of the solution placed where a learner's notebook would be
    with tempfile.TemporaryDirectory(dir=root) as scratch:
        copy = Path(scratch) / source.parent.name / source.name
        copy.parent.mkdir()
        shutil.copy(source, copy)
        started = time.perf_counter()
        report = run_check(copy)
        seconds = time.perf_counter() - started
    if not report.all_passed:
        print(f"  warning: the solution of {source.name} did not pass its own check")
    return seconds


def main() -> None:
    root = find_course_root(Path.cwd())
    lessons = sorted((root / "course").glob("*/*.ipynb"))
    print(f"{'notebook':55} {'execute s':>10} {'check s':>9}")
    total = 0.0
    for source in source_notebooks(root):
        run, chk = execute_seconds(source), check_seconds(root, source)
        total += run + chk
        print(f"{str(source.relative_to(root)):55} {run:10.1f} {chk:9.1f}")
    for lesson in lessons:
        run = execute_seconds(lesson)
        total += run
        print(f"{str(lesson.relative_to(root)):55} {run:10.1f} {'-':>9}")
    print(f"{'total':55} {total:10.1f}")


if __name__ == "__main__":
    main()
