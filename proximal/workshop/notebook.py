"""The learner's side of a workshop hub, called from the notebook.

On a hub the hidden tests are not on the learner's server (``solutions/`` is hidden from it), so:

* :func:`check_on_hub` (what ``check()`` does on a hub) runs the **visible** tests, those of the
  released notebook in the exchange, in a fresh kernel and prints the usual table;
* :func:`submit_and_grade` saves nothing itself (save first), submits the notebook's folder with
  nbgrader, waits for the workshop's grading service to grade it with the hidden tests, and prints
  the same table for that grade (assertion messages only: hidden tests' code is never shown).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from autograder.notebooks import CourseError, find_course_root, read_notebook

SUBMITTED = re.compile(r"Submitted as: \S+ (?P<module>\S+) (?P<timestamp>.+)$", re.MULTILINE)


def on_hub() -> bool:
    return bool(os.environ.get("PROXIMAL_HUB"))


def released_copy(notebook: Path) -> Path:
    """The released notebook (visible tests only) this learner's notebook came from."""
    outbound = Path(os.environ.get("PROXIMAL_HUB_OUTBOUND", ""))
    path = outbound / notebook.parent.name / notebook.name
    if not path.is_file():
        raise CourseError(
            f"{notebook.name} is not a released exercise notebook of this workshop (no {path})."
        )
    return path


def check_on_hub(notebook: str | os.PathLike[str]) -> None:
    """Run the visible tests of the saved notebook and print the table; offer the hidden ones."""
    from proximal.learner.check import check_against, render

    path = Path(notebook).resolve()
    released = read_notebook(released_copy(path))
    print(render(check_against(path, released, find_course_root(path.parent))))
    print(
        "\nThese were the visible tests. For the hidden ones and your grade, save the notebook and run:\n"
        "    from proximal.workshop.notebook import submit_and_grade\n    submit_and_grade()"
    )


def submit(folder: Path) -> str:
    """``nbgrader submit`` the module folder; the submission's timestamp."""
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", "submit", folder.name],
        cwd=folder.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    match = SUBMITTED.search(done.stdout + done.stderr)
    if done.returncode != 0 or match is None:
        raise CourseError(f"nbgrader could not submit {folder.name}: {(done.stderr or done.stdout)[-600:]}")
    return match.group("timestamp").strip()


def fetch_result(module: str) -> dict | None:
    """This learner's latest result from the grading service (authenticated with the server's token)."""
    url = os.environ["PROXIMAL_GRADER_URL"] + f"api/results/{module}"
    request = urllib.request.Request(
        url, headers={"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["result"]


def _same_time(a: str | None, b: str) -> bool:
    from nbgrader.utils import parse_utc

    return a is not None and parse_utc(a) == parse_utc(b)


def submit_and_grade(notebook: str | None = None, timeout: float = 300.0, poll: float = 1.0) -> None:
    """Submit, wait for the grade (at most ``timeout`` s) and print the table.

    Inside a check or a grading run it returns at once: the notebook being graded must not hand
    itself in again (nor spend the learner's time limit trying).
    """
    from proximal import _being_checked, _current_notebook

    if _being_checked():
        print("(submit skipped: this notebook is being checked or graded right now)")
        return

    path = Path(notebook or _current_notebook() or "").resolve()
    if not path.is_file():
        raise CourseError(
            "Could not tell which notebook this is: call submit_and_grade('your-notebook.ipynb')."
        )
    module = path.parent.name
    stamp = submit(path.parent)
    print(f"Submitted {module} at {stamp}; grading with the hidden tests...", flush=True)
    deadline = time.monotonic() + timeout
    result = None
    while time.monotonic() < deadline:
        try:
            result = fetch_result(module)
        except (urllib.error.URLError, OSError):  # the service restarting: try again
            result = None
        if result and _same_time(result.get("timestamp"), stamp):
            break
        time.sleep(poll)
    else:
        print(
            f"No grade after {timeout:.0f} s: the grading service is busy. Run submit_and_grade() later, or ask."
        )
        return
    print(render_result(result, path.name))


def render_result(result: dict, notebook_name: str) -> str:
    """The check's table for a graded submission."""
    from proximal.learner.check import CheckReport, ExerciseResult, render

    rows: list[dict] = next(
        (nb["exercises"] for nb in result["notebooks"] if nb["name"] == notebook_name), []
    )
    exercises = [
        ExerciseResult(
            r["name"],
            r["level"],
            r["points"],
            r["max_points"],
            list(r["messages"]),
            [],
            r["attempted"],
            r["hints"],
        )
        for r in rows
    ]
    report = CheckReport(Path(notebook_name), exercises)
    head = (
        f"Graded with the hidden tests: {result['score']:g}/{result['max_score']:g} points "
        f"(attempt {result['attempts']})."
    )
    return head + "\n" + render(report)


def check_in_notebook_on_hub(path: str) -> None:
    """:func:`check_on_hub` in a separate process (a kernel cannot run another kernel's loop), its output printed."""
    done = subprocess.run(
        [sys.executable, "-m", "proximal.workshop.notebook", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    print(done.stdout, end="")
    if done.returncode != 0:
        print(done.stderr[-2000:], end="")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m proximal.workshop.notebook NOTEBOOK", file=sys.stderr)
        return 2
    try:
        check_on_hub(args[0])
    except CourseError as exc:
        print(f"check: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
