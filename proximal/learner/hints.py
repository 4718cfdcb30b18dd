"""Measured hints, one level at a time: the button in the notebook and ``proximal hint``.

In the source notebook an exercise's hints are markdown cells (``metadata.proximal.hint = k``).
``proximal release`` moves them into one code cell per exercise, tagged ``hints``::

    from proximal.learner.hints import hints

    hints("fetch_all")

with the texts in that cell's ``metadata.proximal.hints`` (so nothing shows before it is asked
for). Run in JupyterLab, :func:`hints` shows a button "Show hint 1 of 3"; each click reveals the
next level and records it (exercise, level, time) in ``workspace/.progress.json``. Hints revealed
before are shown again when the cell is re-run. ``proximal hint NOTEBOOK EXERCISE`` reveals and
records the same way, from the same texts. Inside a check or a grading run the cell prints one
line and does nothing else; so does a kernel without widgets.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autograder import CHECKING_ENV

if TYPE_CHECKING:
    from nbformat import NotebookNode

# Imported by the hints cell of every exercise notebook, also while it is graded: keep the
# imports here to the standard library (nbformat and the course's readers load when needed).

TAG = "hints"
_SUMMARY = re.compile(r"<summary>(.*?)</summary>", re.S)
_TAGS = re.compile(r"</?(details|summary|b|strong|i|em)\b[^>]*>")


@dataclass(frozen=True)
class Hint:
    level: int
    title: str  # "Hint 1 of 3 — a question"
    text: str  # the markdown body

    def markdown(self) -> str:
        return f"**{self.title}**\n\n{self.text}"

    def plain(self) -> str:
        return f"{self.title}\n\n{self.text}"


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("proximal")
    return meta if isinstance(meta, dict) else {}


def parse_hint_cell(cell: NotebookNode) -> Hint:
    """A source hint cell (``<details><summary>Hint k of n — LABEL</summary> ... </details>``) as a Hint."""
    level = _meta(cell)["hint"]
    match = _SUMMARY.search(cell.source)
    title = _TAGS.sub("", match.group(1)).strip() if match else f"Hint {level}"
    body = _TAGS.sub("", _SUMMARY.sub("", cell.source)).strip()
    return Hint(level, title, body)


def source_hints(nb: NotebookNode, exercise: str) -> dict[int, Hint]:
    """Hint level -> Hint for ``exercise``, from a source notebook's markdown hint cells."""
    found = {}
    for cell in nb.cells:
        meta = _meta(cell)
        if (
            cell.cell_type == "markdown"
            and meta.get("exercise") == exercise
            and isinstance(meta.get("hint"), int)
        ):
            found[meta["hint"]] = parse_hint_cell(cell)
    return dict(sorted(found.items()))


def released_hints(nb: NotebookNode, exercise: str) -> dict[int, Hint]:
    """Hint level -> Hint for ``exercise``, from a released notebook's ``hints`` cell."""
    for cell in nb.cells:
        meta = _meta(cell)
        if TAG in cell.get("metadata", {}).get("tags", []) and meta.get("exercise") == exercise:
            return {h["level"]: Hint(h["level"], h["title"], h["text"]) for h in meta.get("hints", [])}
    return {}


def notebook_hints(nb: NotebookNode, exercise: str) -> dict[int, Hint]:
    """The hints of ``exercise`` in any course notebook: released (a ``hints`` cell) or source."""
    return released_hints(nb, exercise) or source_hints(nb, exercise)


def hints_cell(exercise: str, found: dict[int, Hint]) -> NotebookNode:
    """The code cell that replaces an exercise's hint cells in the student notebook."""
    from nbformat.v4 import new_code_cell

    cell = new_code_cell(f'from proximal.learner.hints import hints\n\nhints("{exercise}")')
    cell["id"] = f"hints-{exercise}"[:64]
    cell.metadata["tags"] = [TAG]
    cell.metadata["editable"] = False
    cell.metadata["deletable"] = False
    cell.metadata["proximal"] = {
        "exercise": exercise,
        "hints": [{"level": h.level, "title": h.title, "text": h.text} for h in found.values()],
    }
    return cell


def move_hints_into_cells(nb: NotebookNode) -> NotebookNode:
    """Replace each exercise's markdown hint cells with one ``hints`` code cell (in place)."""
    cells: list[NotebookNode] = []
    done: set[str] = set()
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.cell_type == "markdown" and isinstance(meta.get("hint"), int) and meta.get("exercise"):
            name = meta["exercise"]
            if name not in done:
                done.add(name)
                cells.append(hints_cell(name, source_hints(nb, name)))
            continue
        cells.append(cell)
    nb.cells = cells
    return nb


# ---------------------------------------------------------------- revealing


def _course_paths(notebook: Path) -> tuple[Path, str, list[Path]]:
    """(course root, progress key, notebooks that may hold the hints, best first)."""
    from autograder.notebooks import find_course_root
    from proximal.learner.progress import notebook_key

    root = find_course_root(notebook.parent)
    module, name = notebook.parent.name, notebook.name
    candidates = [notebook, root / "exercises" / module / name, root / "solutions" / module / name]
    return root, notebook_key(notebook), [c for c in candidates if c.is_file()]


def load_hints(notebook: Path, exercise: str) -> dict[int, Hint]:
    """The hints of ``exercise``: from the notebook itself, else its release, else its source."""
    from autograder.notebooks import CourseError, read_notebook

    _, _, candidates = _course_paths(notebook)
    for candidate in candidates:
        try:
            found = notebook_hints(read_notebook(candidate), exercise)
        except CourseError:
            continue
        if found:
            return found
    return {}


def reveal(notebook: Path, exercise: str, level: int | None = None) -> tuple[Hint, int]:
    """Reveal the next unopened hint of ``exercise`` (or ``level``), record it; (hint, number of hints).

    Raises :class:`CourseError` when the exercise has no hints or no such level.
    """
    from autograder.notebooks import CourseError
    from proximal.learner.progress import record_hint, revealed

    root, key, _ = _course_paths(notebook)
    found = load_hints(notebook, exercise)
    if not found:
        raise CourseError(f"{exercise!r} has no hints in {notebook.name}.")
    if level is None:
        level = min(revealed(root, key).get(exercise, 0) + 1, max(found))
    if level not in found:
        raise CourseError(f"{exercise!r} has hints {', '.join(map(str, found))}; there is no hint {level}.")
    record_hint(root, key, exercise, level)
    return found[level], max(found)


def opened(notebook: Path, exercise: str) -> int:
    """The highest hint level of ``exercise`` already revealed (0 for none)."""
    from proximal.learner.progress import revealed

    root, key, _ = _course_paths(notebook)
    return revealed(root, key).get(exercise, 0)


# ---------------------------------------------------------------- the notebook's button


_prefetch: threading.Thread | None = None


def prefetch_checker() -> threading.Thread:
    """Import the instant check in the background, once per kernel (the hints cell starts it).

    Its imports (nbformat, nbgrader's scoring, the check) take a second or two; paid while the
    learner reads and writes, the first ``check("name")`` then answers as quickly as the next.
    """
    global _prefetch
    if _prefetch is None:
        _prefetch = threading.Thread(target=_import_checker, name="proximal-prefetch", daemon=True)
        _prefetch.start()
    return _prefetch


def _import_checker() -> None:
    for name in ("proximal.learner.instant", "proximal.learner.check", "nbgrader.utils"):
        importlib.import_module(name)


def hints(exercise: str, notebook: str | None = None) -> None:
    """Show the hint button for ``exercise`` (see the module docstring)."""
    if os.environ.get(CHECKING_ENV) or os.environ.get("NBGRADER_EXECUTION"):
        print(f"(hints for {exercise}: shown as a button in JupyterLab)")
        return None
    from proximal import _current_notebook

    found_path = notebook or _current_notebook()
    if found_path is None:
        print(f"Could not tell which notebook this is; in a terminal: proximal hint NOTEBOOK {exercise}")
        return None
    try:
        import ipywidgets
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        print(
            f"(no widgets here: in a terminal, `proximal hint {found_path} {exercise}` shows the next hint)"
        )
        return None
    if get_ipython() is None or not hasattr(get_ipython(), "kernel"):
        print(
            f"(no widgets here: in a terminal, `proximal hint {found_path} {exercise}` shows the next hint)"
        )
        return None
    prefetch_checker()
    path = Path(found_path)
    found = load_hints(path, exercise)
    if not found:
        print(f"(no hints for {exercise})")
        return None
    total = max(found)
    shown = ipywidgets.Output()
    button = ipywidgets.Button(icon="lightbulb-o", layout=ipywidgets.Layout(width="auto"))
    button.add_class("proximal-hint-button")

    def update(level: int) -> None:
        button.description = (
            f"Show hint {level + 1} of {total}" if level < total else f"All {total} hints shown"
        )
        button.disabled = level >= total

    def show(level: int) -> None:
        with shown:
            display(Markdown(found[level].markdown()))

    already = opened(path, exercise)
    for level in range(1, already + 1):
        if level in found:
            show(level)
    update(already)

    def on_click(_button) -> None:
        hint, _ = reveal(path, exercise)
        show(hint.level)
        update(hint.level)

    button.on_click(on_click)
    display(ipywidgets.VBox([shown, button]))
    return None
