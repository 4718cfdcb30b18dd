"""Golden files: does the engine still turn the committed submissions into the committed merged notebooks and feedback?

As nbgrader does with ``tests/preprocessors/files/submitted-*.ipynb``: a dependency upgrade (or a
change of ours) that alters what the grader runs or what a learner reads shows up as a diff here.
After a change you mean, regenerate them with ``pytest tests/test_golden.py --update-golden``
and read the diff before committing it.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import DEMO, DEMO_NB

from autograder.grade import grade
from autograder.pipeline import prepare

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "golden"
SUBMISSIONS = sorted(GOLDEN.glob("submitted-*.ipynb"))
SOURCE = DEMO / "solutions" / "00-demo" / DEMO_NB


def comparable_notebook(nb: nbformat.NotebookNode) -> dict:
    """The notebook without what differs between runs: cell ids, and nothing else."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.pop("id", None)
    return nb


def comparable_html(page: str) -> str:
    """The feedback page's content: no style sheets or scripts (nbconvert's template), no ids, timestamps or prompts."""
    page = re.sub(r"<style.*?</style>|<script.*?</script>", "", page, flags=re.S)
    page = re.sub(r'\s(id|data-cell-id)="[^"]*"', "", page)
    page = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?", "<timestamp>", page)
    # a cell that kills its kernel may or may not have got its execution count back: a race, not a change
    page = re.sub(r"In(?:&nbsp;|\s)*\[(?:\d|&nbsp;|\s)*\]:", "In [ ]:", page)  # \s covers nbconvert's U+00A0
    return "\n".join(line.rstrip() for line in page.splitlines() if line.strip())


def check_or_update(path: Path, produced: str, update: bool) -> None:
    if update:
        path.write_text(produced, encoding="utf-8")
        return
    assert path.is_file(), f"{path.name} is missing: run pytest tests/test_golden.py --update-golden"
    assert produced == path.read_text(encoding="utf-8"), (
        f"{path.name} is not what the engine makes now: if the change is intended, "
        "run pytest tests/test_golden.py --update-golden and review the diff"
    )


def test_there_are_golden_submissions():
    """Are there committed submissions for the golden tests to read?"""
    assert len(SUBMISSIONS) >= 3


@pytest.mark.parametrize("submitted", SUBMISSIONS, ids=[p.stem for p in SUBMISSIONS])
def test_merged_form_matches_the_golden_file(submitted, request):
    """Is the notebook the grader runs (merged with the source, guard cells in) the committed one?"""
    merged, notes = prepare(nbformat.read(submitted, as_version=4), nbformat.read(SOURCE, as_version=4))
    document = {"notes": notes, "notebook": comparable_notebook(merged)}
    produced = json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    name = submitted.name.replace("submitted-", "merged-").replace(".ipynb", ".json")
    check_or_update(GOLDEN / name, produced, request.config.getoption("--update-golden"))


def test_feedback_matches_the_golden_files(demo_course, request):
    """Is the HTML feedback each golden submission earns (scores, messages, no hidden tests) the committed one?"""
    for submitted in SUBMISSIONS:
        student = submitted.stem.removeprefix("submitted-")
        dest = demo_course / "submitted" / student / "00-demo" / DEMO_NB
        dest.parent.mkdir(parents=True)
        shutil.copy(submitted, dest)
    grade(demo_course, "00-demo", jobs=2, progress=False)
    for submitted in SUBMISSIONS:
        student = submitted.stem.removeprefix("submitted-")
        page = (
            demo_course / "feedback" / student / "00-demo" / DEMO_NB.replace(".ipynb", ".html")
        ).read_text()
        check_or_update(
            GOLDEN / f"feedback-{student}.html",
            comparable_html(page),
            request.config.getoption("--update-golden"),
        )
