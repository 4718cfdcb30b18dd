"""Reading course notebooks: where they live and what their cells mean.

Course conventions (see docs/authoring.md): nbgrader metadata says what a cell is for grading;
``metadata.proximal`` ties cells to an exercise (``exercise``), gives an answer cell its
``level`` (warmup/core/stretch) and a hint cell its ``hint`` number.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

LEVELS = ("warmup", "core", "stretch")
HINT_LABELS = {1: "a question", 2: "the method", 3: "a sketch"}
HINT_REF = re.compile(r"\bHint (\d+)\b")


class CourseError(Exception):
    """A problem the user can fix, reported without a traceback."""


def find_course_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The course folder: the nearest parent of ``start`` with ``nbgrader_config.py`` and ``solutions/``.

    Falls back to ``$PROXIMAL_COURSE_ROOT``, then to the folder this package was installed from.
    """
    candidates: list[Path] = []
    if start is not None:
        here = Path(start).resolve()
        candidates += [here, *here.parents]
    if os.environ.get("PROXIMAL_COURSE_ROOT"):
        candidates.append(Path(os.environ["PROXIMAL_COURSE_ROOT"]).resolve())
    candidates.append(Path(__file__).resolve().parent.parent)
    for folder in candidates:
        if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
            return folder
    raise CourseError(
        "Could not find the course folder (one with nbgrader_config.py and solutions/). "
        "Run this from inside the course, or set PROXIMAL_COURSE_ROOT."
    )


def modules(root: Path) -> list[str]:
    """Assignment ids (module folders under ``solutions/``) in ladder order."""
    return sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir() and not p.name.startswith("."))


def source_notebooks(root: Path, module: str | None = None) -> list[Path]:
    """Every nbgrader source notebook, or those of one module."""
    names = [module] if module else modules(root)
    found: list[Path] = []
    for name in names:
        folder = root / "solutions" / name
        if not folder.is_dir():
            raise CourseError(
                f"No module '{name}': expected a folder {folder}. Known: {', '.join(modules(root))}"
            )
        found += sorted(folder.glob("*.ipynb"))
    return found


def source_of(notebook: Path, root: Path) -> Path | None:
    """The nbgrader source of any copy of a course notebook (the release, a workspace, a submission).

    Every copy keeps its module folder's name and its file name: ``solutions/<folder>/<name>``.
    None when there is no such source (a lesson, a notebook of the learner's own).
    """
    source = root / "solutions" / notebook.parent.name / notebook.name
    return source if source.is_file() else None


def read_notebook(path: str | os.PathLike[str]) -> NotebookNode:
    """Read a notebook as nbformat v4, with a clear error for anything that is not one."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"No notebook at {path}.")
    try:
        with open(path, encoding="utf-8") as handle:
            return nbformat.read(handle, as_version=4)
    except UnicodeDecodeError as exc:
        raise CourseError(f"{path.name} is not valid UTF-8 text ({exc.reason}).") from exc
    except Exception as exc:  # nbformat raises several unrelated types for damaged files
        raise CourseError(f"{path.name} is not a readable notebook: {exc.__class__.__name__}: {exc}") from exc


def nbgrader_meta(cell: NotebookNode) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def proximal_meta(cell: NotebookNode) -> dict:
    meta = cell.get("metadata", {}).get("proximal")
    return meta if isinstance(meta, dict) else {}


def grade_id(cell: NotebookNode) -> str | None:
    value = nbgrader_meta(cell).get("grade_id")
    return value if isinstance(value, str) else None


def is_test_cell(cell: NotebookNode) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def is_answer_cell(cell: NotebookNode) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


@dataclass
class Exercise:
    """One exercise of a source notebook: its answer cell, test cells and hints."""

    name: str
    level: str = "core"
    answer_id: str | None = None
    test_ids: list[str] = field(default_factory=list)
    points: float = 0.0
    hints: list[int] = field(default_factory=list)


def exercises(nb: NotebookNode) -> dict[str, Exercise]:
    """The exercises of a source notebook, in notebook order, from ``metadata.proximal``."""
    found: dict[str, Exercise] = {}
    for cell in nb.cells:
        meta = proximal_meta(cell)
        name = meta.get("exercise")
        if not isinstance(name, str):
            continue
        exercise = found.setdefault(name, Exercise(name))
        if is_answer_cell(cell):
            exercise.answer_id = grade_id(cell)
            exercise.level = meta.get("level", exercise.level)
        elif is_test_cell(cell):
            exercise.test_ids.append(grade_id(cell) or "")
            exercise.points += float(nbgrader_meta(cell).get("points", 0) or 0)
        elif "hint" in meta:
            exercise.hints.append(meta["hint"])
    return found


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Replace ``path`` with ``data`` in one step: a reader (or a crash) never sees half a file.

    The temporary name carries the process id, so that two processes writing the same file never
    share a temporary file; the last ``os.replace`` wins whole.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data, encoding="utf-8")
    os.replace(tmp, path)


def write_notebook(nb: NotebookNode, path: str | os.PathLike[str]) -> None:
    """Write a notebook the way nbformat does, atomically (a reader never sees half a file)."""
    text = nbformat.writes(nb)
    atomic_write(path, text if text.endswith("\n") else text + "\n")  # as nbformat.write ends a file
