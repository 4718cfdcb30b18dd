"""The course itself: every notebook runs, every exercise can be passed and can be failed."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

from autograder.notebooks import modules
from proximal.authoring.lint import lint_course
from proximal.authoring.release import release

MODULES = modules(ROOT)
LESSONS = sorted((ROOT / "course").glob("*/*.ipynb"))


def test_notebooks_follow_the_conventions():
    """Does every notebook pass `proximal lint` (ids, points, hints, no outputs, no leaks)?"""
    assert lint_course(ROOT) == []


def _comparable(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.pop("id", None)
    return nb


def _not_ignored(paths: list[Path]) -> list[Path]:
    """``paths`` (relative to exercises/) less those git ignores there."""
    import subprocess

    listed = "".join(f"exercises/{p}\n" for p in paths)
    done = subprocess.run(
        ["git", "check-ignore", "--stdin"], cwd=ROOT, input=listed, capture_output=True, text=True
    )
    ignored = {Path(line).relative_to("exercises") for line in done.stdout.splitlines()}
    return [p for p in paths if p not in ignored]


def test_exercises_match_a_fresh_release(tmp_path):
    """Is exercises/ exactly what `make release` generates from solutions/ (cell ids aside)?"""
    release(ROOT, out=tmp_path)
    # files a notebook run writes beside itself (git-ignored, e.g. 04's merkle_sample.py) are no drift
    fresh = _not_ignored(sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()))
    committed = _not_ignored(
        sorted(p.relative_to(ROOT / "exercises") for p in (ROOT / "exercises").rglob("*") if p.is_file())
    )
    assert committed == fresh, "exercises/ has other files than a fresh release: run `make release`"
    for rel in fresh:
        if rel.suffix == ".ipynb":
            assert _comparable(ROOT / "exercises" / rel) == _comparable(tmp_path / rel), (
                f"exercises/{rel} differs from a fresh release of solutions/: run `make release` and commit"
            )
        else:
            assert (ROOT / "exercises" / rel).read_bytes() == (tmp_path / rel).read_bytes(), (
                f"run `make release` ({rel})"
            )


def test_an_untouched_release_needs_no_repair():
    """Merged with its source, is every released notebook taken as it is (no "restored the test cell" notice)?"""
    from autograder.merge import merge
    from autograder.notebooks import read_notebook, source_notebooks

    notices = {}
    for source in source_notebooks(ROOT):
        released = ROOT / "exercises" / source.parent.name / source.name
        _, notes = merge(read_notebook(released), read_notebook(source))
        if notes:
            notices[f"{source.parent.name}/{source.name}"] = notes
    assert notices == {}


# The solution earns every point and the untouched release none: tests/test_one_engine.py (both ways).


@pytest.mark.notebooks
@pytest.mark.parametrize("lesson", LESSONS, ids=[p.parent.name for p in LESSONS])
def test_lesson_runs_top_to_bottom(lesson):
    """Does the lesson run without an error in a fresh kernel?"""
    from nbclient import NotebookClient

    nb = nbformat.read(lesson, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(lesson.parent)}}
    ).execute()
