"""Grade the same batch with plain `nbgrader autograde` and with `proximal grade`; print times and ratio.

    .venv/bin/python benchmarks/grading_speed.py [--module01 40] [--torch 20] [--jobs N]

The batch: mixed submissions (correct, one exercise wrong, untouched) of module 01 and of a
PyTorch module (05). Both ways grade into fresh copies of the course with the same
nbgrader_config.py; `proximal grade` also runs the sandbox, guard cells and its checks, so the
ratio is what an instructor gets, overhead included. Figures, not a test.

The floor is what no grader can beat: the submissions' own cell time (each notebook run once with
nbclient, the time between each cell's start and its reply, summed) divided by the cores.

What is timed is grading an assignment the gradebook already knows, both ways: nbgrader's
`generate_assignment` (which records the source cells) runs before the clock starts, and so does
`proximal grade`'s equivalent (`ensure_assignment`, which only the first grading of an
assignment pays: later runs find it registered and skip it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.grade import ensure_assignment, grade
from autograder.merge import clear_solution
from autograder.nbgrader_env import course_config
from autograder.notebooks import find_course_root, grade_id, is_answer_cell


def make_batch(root: Path, course: Path, module: str, count: int) -> None:
    """``count`` submissions of ``module``: a third correct, a third with one answer cleared, a third untouched."""
    for source in sorted((root / "solutions" / module).glob("*.ipynb")):
        nb = nbformat.read(source, as_version=4)
        answers = [c for c in nb.cells if is_answer_cell(c)]
        for i in range(count):
            student = f"{module[:2]}-s{i:02d}"
            copy = nbformat.read(source, as_version=4)
            kind = i % 3
            for cell in copy.cells:
                if not is_answer_cell(cell):
                    continue
                if kind == 2 or (kind == 1 and grade_id(cell) == grade_id(answers[i % len(answers)])):
                    cell.source = clear_solution(cell.source)
            dest = course / "submitted" / student / module / source.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(copy, dest)


def fresh_course(root: Path, where: Path, modules: list[str], counts: dict[str, int]) -> Path:
    course = where / "course"
    (course / "solutions").mkdir(parents=True)
    for module in modules:
        shutil.copytree(root / "solutions" / module, course / "solutions" / module)
        make_batch(root, course, module, counts[module])
    shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
    return course


def plain_nbgrader(course: Path, module: str) -> float:
    nbgrader = [sys.executable, "-m", "nbgrader"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(
        [
            *nbgrader,
            "generate_assignment",
            module,
            "--force",
            "--Exchange.root=/tmp",
            "--CourseDirectory.release_directory=release",
        ],
        cwd=course,
        env=env,
        check=True,
        capture_output=True,
    )
    started = time.perf_counter()
    subprocess.run(
        [*nbgrader, "autograde", module, "--force"], cwd=course, env=env, check=False, capture_output=True
    )
    return time.perf_counter() - started


def cell_seconds(course: Path, module: str) -> float:
    """The submissions' own cell time: every submitted notebook run once, its cells' execution time summed."""
    from datetime import datetime

    from nbclient import NotebookClient

    total = 0.0
    for path in sorted((course / "submitted").glob(f"*/{module}/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb,
            timeout=120,
            allow_errors=True,
            record_timing=True,
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute(env={**os.environ, "PROXIMAL_CHECKING": "1"})
        for cell in nb.cells:
            timing = cell.get("metadata", {}).get("execution", {})
            if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
                began = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
                ended = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
                total += (ended - began).total_seconds()
    return total


def register(course: Path, module: str) -> None:
    """Record the assignment in the gradebook, untimed, as plain_nbgrader's generate_assignment does."""
    config = course_config(course, CourseDirectory={"db_url": f"sqlite:///{course / 'gradebook.db'}"})
    ensure_assignment(course, config, module)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module01", type=int, default=40)
    parser.add_argument("--torch", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    root = find_course_root(Path.cwd())
    plan = {"01-asyncio": args.module01, "05-pytorch": args.torch}
    cores = os.cpu_count() or 1
    print(
        f"{'module':12} {'subs':>5} {'nbgrader s':>11} {'proximal s':>11} {'speed-up':>9} {'floor s':>8} {'x floor':>8}"
    )
    for module, count in plan.items():
        if count <= 0:
            continue
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            plain_course = fresh_course(root, Path(a), [module], plan)
            ours_course = fresh_course(root, Path(b), [module], plan)
            plain = plain_nbgrader(plain_course, module)
            register(ours_course, module)
            started = time.perf_counter()
            grade(ours_course, module, jobs=args.jobs, feedback=False, progress=False)
            ours = time.perf_counter() - started
            floor = cell_seconds(plain_course, module) / cores
        print(
            f"{module:12} {count:5d} {plain:11.1f} {ours:11.1f} {plain / ours:8.2f}x {floor:8.1f} {ours / floor:7.2f}x"
        )
    print(f"floor: the submissions' own cell time divided by {cores} cores")


if __name__ == "__main__":
    main()
