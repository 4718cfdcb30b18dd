"""Grade one submission from the exchange and release its feedback (run by the service, in a process of its own).

``python -m proximal.workshop.gradejob ENTRY [--release-only]`` (with ``$PROXIMAL_HUB_STATE``):

1. copies ``inbound/ENTRY`` to ``course/submitted/<student>/<assignment>/`` (what ``nbgrader collect`` does);
2. grades it with the course's engine, :func:`autograder.grade.grade` (the one ``proximal grade``
   uses: sandboxed, one gradebook transaction per student);
3. releases the learner's feedback into the exchange (nbgrader's ``release_feedback``);
4. prints one JSON line: ``{"graded", "score", "max_score", "notes"}``.

The service starts it inside a PID namespace that dies with the service, so a killed service
leaves no grading half-running behind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import warnings

from autograder.grade import grade
from autograder.nbgrader_env import nbgrader_api
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


def run(layout: Layout, entry: Entry, release_only: bool = False) -> dict:
    notes: list[str] = []
    score = max_score = 0.0
    graded = True
    if not release_only:
        collect(layout, entry)
        report = grade(
            layout.course,
            entry.assignment,
            jobs=1,
            students=[entry.student],
            csv_path=layout.course / "grades.csv",
            progress=False,
        )
        result = report.results[0]
        graded, score, max_score, notes = result.graded, result.score, result.max_score, list(result.notes)
    else:
        score, max_score = _gradebook_score(layout, entry)
    if graded:
        notes += release(layout, entry)
    instructors = layout.roster()["instructors"]
    if instructors:
        own_course(layout, instructors[0])
    return {"graded": graded, "score": score, "max_score": max_score, "notes": notes}


def _gradebook_score(layout: Layout, entry: Entry) -> tuple[float, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{layout.course / 'gradebook.db'}") as gb:
        submission = gb.find_submission(entry.assignment, entry.student)
        return float(submission.score), float(submission.max_score)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proximal.workshop.gradejob")
    parser.add_argument("entry", help="the submission's folder name in the exchange's inbound folder")
    parser.add_argument("--release-only", action="store_true", help="already graded: release its feedback")
    args = parser.parse_args(argv)
    layout = from_env()
    entry = next((e for e in scan(layout.inbound) if e.name == args.entry), None)
    if entry is None:
        print(json.dumps({"graded": False, "notes": [f"no submission {args.entry!r} in the exchange"]}))
        return 1
    out = run(layout, entry, release_only=args.release_only)
    sys.stdout.flush()
    os.write(1, (json.dumps(out) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
