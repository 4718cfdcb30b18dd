"""Print how long the instant check, ``check("name")`` in the live kernel, takes for each exercise.

    .venv/bin/python benchmarks/instant_check.py [MODULE ...]    (default: 01-asyncio to 04-merkle)

Each exercise notebook's solution is run once in a kernel, as a learner who has worked through it
would have; then each exercise's instant check (its full tests, hidden ones included, guarded as
in grading) is timed inside that kernel. The target for modules 01-04 is under a second each.

As in a learner's kernel, the checker's imports (nbformat, nbgrader's scoring) are done before the
first check (there the hints cell prefetches them), and Python keeps bytecode caches (here in a
temporary folder): with ``PYTHONDONTWRITEBYTECODE`` set, as on the course's build machine, every
test cell would also recompile the helpers the guard re-imports from disk (about 0.1 s a cell).
Figures, not a test: they depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.notebooks import exercises, find_course_root, source_notebooks

TIMING_CELL = """
import json, time
from proximal.learner.hints import prefetch_checker
prefetch_checker().join()
from proximal.learner.instant import check_exercise
_times = {}
for _name in NAMES:
    _began = time.perf_counter()
    _report = check_exercise(_name, notebook=NOTEBOOK, record=False)
    _times[_name] = [time.perf_counter() - _began, sum(e.points for e in _report.exercises)]
print("TIMES " + json.dumps(_times))
"""


def time_notebook(source: Path, root: Path, pycache: Path) -> dict[str, list[float]]:
    """{exercise: [seconds, points]} for every graded exercise of ``source``."""
    names = [name for name, spec in exercises(nbformat.read(source, as_version=4)).items() if spec.test_ids]
    with tempfile.TemporaryDirectory(dir=root, prefix=".bench-") as scratch:
        # a copy in a module folder of the course, where the check finds its source
        copy = Path(scratch) / source.parent.name / source.name
        shutil.copytree(source.parent, copy.parent)
        nb = nbformat.read(copy, as_version=4)
        nb.cells = [c for c in nb.cells if "check" not in c.metadata.get("tags", [])]
        code = TIMING_CELL.replace("NAMES", repr(names)).replace("NOTEBOOK", repr(str(copy)))
        nb.cells.append(nbformat.v4.new_code_cell(code))
        # the kernel inherits this environment, with bytecode caches on (kept in `pycache`)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
        NotebookClient(
            nb,
            timeout=300,
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            resources={"metadata": {"path": str(copy.parent)}},
        ).execute(env=env)
    for output in nb.cells[-1].outputs:
        for line in output.get("text", "").splitlines():
            if line.startswith("TIMES "):
                return json.loads(line.removeprefix("TIMES "))
    raise RuntimeError(f"no timings from {source.name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=["01-asyncio", "02-aiohttp", "03-retries", "04-merkle"])
    args = parser.parse_args()
    root = find_course_root(Path.cwd())
    print(f"{'notebook':38} {'exercise':24} {'seconds':>8} {'points':>7}")
    slowest = 0.0
    with tempfile.TemporaryDirectory(prefix="proximal-bench-pycache-") as pycache:
        for module in args.modules:
            for source in source_notebooks(root, module):
                for name, (seconds, points) in time_notebook(source, root, Path(pycache)).items():
                    slowest = max(slowest, seconds)
                    print(f"{module + '/' + source.stem:38} {name:24} {seconds:8.2f} {points:7g}")
    print(f"slowest instant check: {slowest:.2f} s (target: under 1 s for modules 01-04)")
    sys.exit(0)


if __name__ == "__main__":
    main()
