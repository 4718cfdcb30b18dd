"""The service's warm grader: grades the submissions the service names, one at a time, and releases their feedback.

``python -m proximal.workshop.gradejob`` (with ``$PROXIMAL_HUB_STATE``) reads one request per line
on its standard input, ``{"entry": NAME, "release_only": false}``, and for each:

1. copies ``inbound/NAME`` to ``course/submitted/<student>/<assignment>/`` (what ``nbgrader collect`` does);
2. grades it with the course's engine, :func:`autograder.grade.grade` (the one ``proximal grade``
   uses: sandboxed, one gradebook transaction per student);
3. releases the learner's feedback into the exchange (nbgrader's ``release_feedback``);
4. answers one JSON line on its standard output: ``{"graded", "score", "max_score", "notes"}``.

It stays up between submissions so that a learner's grade does not wait for a Python start, the
engine's imports, a sandbox set-up and a kernel start: its grading process (a
:class:`~autograder.executors.LocalPool` kept open) has all of that done and a spare kernel
started before the next submission arrives. It ends when its standard input closes.

The service starts it inside a PID namespace that dies with the service, so a killed service
leaves no grading half-running behind.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import IO

from autograder.executors import LocalPool
from autograder.grade import grade
from autograder.nbgrader_env import course_config, nbgrader_api
from autograder.sandbox import SandboxLimits
from proximal.workshop.deploy import exchange_config, own_course
from proximal.workshop.inbox import Entry, scan
from proximal.workshop.layout import Layout, from_env

NBGRADER_FILES = ("timestamp.txt", "submission_secret.txt")


def collect(layout: Layout, entry: Entry) -> None:
    """Replace the learner's folder in ``submitted/`` with this submission (staged, then renamed)."""
    final = layout.course / "submitted" / entry.student / entry.assignment
    staged = final.with_name(f".{final.name}.incoming")
    if staged.exists():
        shutil.rmtree(staged)
    staged.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(entry.path, staged, symlinks=True)
    if final.exists():
        shutil.rmtree(final)
    staged.rename(final)


def release(layout: Layout, entry: Entry) -> list[str]:
    """Put the learner's feedback into the exchange; what went wrong, if anything."""
    feedback = layout.course / "feedback" / entry.student / entry.assignment
    if not any(feedback.glob("*.html")):
        return ["no feedback was generated"]
    submitted = layout.course / "submitted" / entry.student / entry.assignment
    for name in NBGRADER_FILES:  # release_feedback hashes the feedback's name with the submission's secret
        shutil.copy(submitted / name, feedback / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = nbgrader_api(exchange_config(layout)).release_feedback(entry.assignment, entry.student)
    return [] if result["success"] else [f"feedback not released: {result.get('error') or result.get('log')}"]


def run(layout: Layout, entry: Entry, pool: LocalPool, release_only: bool = False) -> dict:
    """Grade (unless ``release_only``) and release one submission; the answer the service records.

    ``seconds`` in the answer: how long each step took (the service logs them).
    """
    notes: list[str] = []
    score = max_score = 0.0
    graded = True
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = round(now - clock, 3)
        clock = now

    if not release_only:
        collect(layout, entry)
        lap("collect")
        report = grade(
            layout.course,
            entry.assignment,
            students=[entry.student],
            csv_path=layout.course / "grades.csv",
            progress=False,
            pool=pool,
        )
        result = report.results[0]
        graded, score, max_score, notes = result.graded, result.score, result.max_score, list(result.notes)
        seconds["grade, in the grading process"] = round(result.seconds, 3)
        lap("grade")
    else:
        score, max_score = _gradebook_score(layout, entry)
    if graded:
        notes += release(layout, entry)
        lap("release feedback")
    instructors = layout.roster()["instructors"]
    if instructors:
        own_course(layout, instructors[0])
        lap("hand the course to the instructor")
    return {"graded": graded, "score": score, "max_score": max_score, "notes": notes, "seconds": seconds}


def _gradebook_score(layout: Layout, entry: Entry) -> tuple[float, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{layout.course / 'gradebook.db'}") as gb:
        submission = gb.find_submission(entry.assignment, entry.student)
        return float(submission.score), float(submission.max_score)


def answer(layout: Layout, request: dict, pool: LocalPool) -> dict:
    name = request.get("entry")
    entry = next((e for e in scan(layout.inbound) if e.name == name), None)
    if entry is None:
        return {"graded": False, "notes": [f"no submission {name!r} in the exchange"]}
    return run(layout, entry, pool, release_only=bool(request.get("release_only")))


# While no submission comes, the grading process's spare kernel is renewed this often (its
# whole-notebook time limit runs from its start; see autograder.kernel_manager.KernelSlots).
REFRESH_SECONDS = 20.0


def serve(layout: Layout, requests: IO[str], answers: IO[str], refresh: float = REFRESH_SECONDS) -> None:
    """Answer each request line until ``requests`` closes, with one grading process kept warm throughout."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in requests:
            lines.put(line)
        lines.put(None)

    with tempfile.TemporaryDirectory(prefix="proximal-warm-") as work:
        config = course_config(layout.course)
        with LocalPool(1, SandboxLimits(config=config), work=Path(work)) as pool:
            pool.warm_up(layout.course)
            import nbgrader.apps  # noqa: F401, PLC0415 (this process's own share of the first grading's imports)

            answers.write(json.dumps({"ready": True}) + "\n")
            answers.flush()
            threading.Thread(target=read, daemon=True).start()
            while True:
                try:
                    line = lines.get(timeout=refresh)
                except queue.Empty:
                    pool.warm_up(layout.course)
                    continue
                if line is None:
                    return
                answers.write(json.dumps(answer(layout, json.loads(line), pool)) + "\n")
                answers.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m proximal.workshop.gradejob",
        description="Grade the submissions named on standard input, one JSON request per line.",
    )
    parser.parse_args(argv)
    # answers go out on a copy of the original standard output; anything else the engine or
    # nbgrader prints lands in the log (standard error) and cannot garble them
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    serve(from_env(), sys.stdin, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
