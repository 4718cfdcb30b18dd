"""The learner's progress: every ``proximal check`` result, recorded locally, and what to do next.

Where: ``workspace/.progress.json`` in the course folder (git-ignored, written atomically under a
lock). Per notebook (``NN-topic/name.ipynb``) and exercise it keeps the latest points, whether it
passed, when, the hint the check suggested, and which hints were used.

**How hint use is known: it is measured.** Every hint is revealed one level at a time, by the
button under the exercise (:mod:`proximal.learner.hints`) or by ``proximal hint NOTEBOOK EXERCISE``;
both record the exercise, the level and the time here. "Solved after hint k" is the highest level
revealed before the exercise first passed; an exercise that passed with none is "solved alone".
Nothing is guessed from what the check suggested.

**The best result counts.** An exercise that passed once stays solved (with the hints it needed
then) even when a later check fails it: what a learner has reached is not lost by experimenting.
The overview marks it as a *regression*, "was passing, now failing", so that it is fixed before
the notebook is handed in.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from autograder.notebooks import (
    CourseError,
    exercises,
    find_course_root,
    modules,
    read_notebook,
    source_notebooks,
    source_of,
)

PROGRESS_FILE = ".progress.json"
SCHEMA = 1

SOLVED_ALONE = "solved alone"
SOLVED_HINT = "solved after hint"
ATTEMPTED = "attempted"
NOT_STARTED = "not started"

REGRESSED = "was passing, now failing"
REGRESSED_MARK = "!"

# status -> colour in the figure
COLOURS = {
    SOLVED_ALONE: "#2e7d32",
    SOLVED_HINT: "#9ccc65",
    ATTEMPTED: "#ffb74d",
    NOT_STARTED: "#e0e0e0",
}
REGRESSED_EDGE = "#c62828"  # the outline (and hatching) of a solved exercise that fails now


def progress_path(root: Path) -> Path:
    return root / "workspace" / PROGRESS_FILE


def notebook_key(notebook: Path) -> str:
    """``NN-topic/name.ipynb``: the same for the workspace, exercises/ and solutions/ copies."""
    return f"{notebook.parent.name}/{notebook.name}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# ---------------------------------------------------------------- storage


def load(root: Path) -> dict:
    """The progress record; an empty one when there is none or it cannot be read."""
    path = progress_path(root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"schema": SCHEMA, "notebooks": {}}
    if not isinstance(data, dict) or not isinstance(data.get("notebooks"), dict):
        return {"schema": SCHEMA, "notebooks": {}}
    return data


def _save(root: Path, data: dict) -> None:
    path = progress_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def _updating(root: Path) -> Iterator[dict]:
    """Read-modify-write the record under a lock (a check from the notebook and one from a terminal)."""
    path = progress_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # Windows: no lock, the write itself is still atomic
            pass
        data = load(root)
        yield data
        _save(root, data)


def _entry(data: dict, key: str, exercise: str) -> dict:
    notebook = data["notebooks"].setdefault(key, {"exercises": {}})
    return notebook.setdefault("exercises", {}).setdefault(exercise, {})


# ---------------------------------------------------------------- recording


def record_check(root: Path, report) -> None:
    """Record a :class:`proximal.learner.check.CheckReport` (called by ``proximal check``)."""
    key = notebook_key(report.notebook)
    stamp = _now()
    with _updating(root) as data:
        data["notebooks"].setdefault(key, {"exercises": {}})["last_check"] = stamp
        for ex in report.exercises:
            entry = _entry(data, key, ex.name)
            hint = ex.next_hint() if hasattr(ex, "next_hint") else None
            entry.update(
                points=ex.points,
                max_points=ex.max_points,
                passed=ex.passed,
                attempted=bool(ex.attempted),
                timestamp=stamp,
                suggested_hint=hint,
            )
            entry["checks"] = int(entry.get("checks", 0)) + 1
            if ex.attempted:
                entry["ever_attempted"] = True
            if ex.passed and "first_passed" not in entry:
                entry["first_passed"] = stamp
                entry["hint_measured"] = int(entry.get("hint_opened_max", 0)) or None


def record_hint(root: Path, key: str, exercise: str, level: int) -> None:
    """Record that hint ``level`` of ``exercise`` was revealed (the notebook's button or ``proximal hint``)."""
    with _updating(root) as data:
        entry = _entry(data, key, exercise)
        entry.setdefault("hints_opened", []).append({"level": level, "timestamp": _now()})
        if "first_passed" not in entry:
            entry["hint_opened_max"] = max(int(entry.get("hint_opened_max", 0)), level)


# ---------------------------------------------------------------- hints


def revealed(root: Path, key: str) -> dict[str, int]:
    """Exercise -> the highest hint level revealed in notebook ``key`` (``NN-topic/name.ipynb``)."""
    found: dict[str, int] = {}
    for name, entry in load(root)["notebooks"].get(key, {}).get("exercises", {}).items():
        levels = [int(h.get("level", 0)) for h in entry.get("hints_opened", []) if isinstance(h, dict)]
        if levels:
            found[name] = max(levels)
    return found


def find_source(root: Path, notebook: str | os.PathLike[str]) -> Path:
    """The source notebook for a learner's path, ``NN-topic/name(.ipynb)`` or a unique bare name."""
    given = Path(notebook)
    if given.suffix != ".ipynb":
        given = given.with_suffix(".ipynb")
    if len(given.parts) >= 2 or given.is_file():
        path = given.resolve() if given.exists() else (Path.cwd() / given).resolve()
        candidate = source_of(path, root)
        if candidate is not None:
            return candidate
    matches = [p for p in source_notebooks(root) if p.name == given.name]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(notebook_key(p) for p in source_notebooks(root))
    raise CourseError(
        f"{notebook}: not a course exercise notebook{' (ambiguous)' if matches else ''}. Known: {known}."
    )


def next_hint(
    root: Path, notebook: str | os.PathLike[str], exercise: str, level: int | None = None
) -> tuple[int, int, str]:
    """(level, number of hints, text) of the next unrevealed hint of ``exercise`` (or ``level``); records it.

    The same texts and the same record as the notebook's hint button (:func:`proximal.learner.hints.reveal`).
    """
    from proximal.learner.hints import reveal

    source = find_source(root, notebook)
    try:
        hint, total = reveal(source, exercise, level)
    except CourseError as exc:
        names = ", ".join(exercises(read_notebook(source)))
        raise CourseError(f"{exc} Exercises: {names}.") from exc
    return hint.level, total, hint.plain()


# ---------------------------------------------------------------- the overview


@dataclass
class ExerciseStatus:
    module: str
    notebook: str  # NN-topic/name.ipynb
    name: str
    level: str
    status: str
    hint: int | None = None  # the highest hint revealed before it was first solved (measured)
    hint_measured: bool = False  # kept for readers of older records: every level shown is measured
    note: str = ""
    regressed: bool = False  # solved once (the status is that best result), but the latest check fails it

    @property
    def solved(self) -> bool:
        return self.status in (SOLVED_ALONE, SOLVED_HINT)

    def label(self) -> str:
        text = f"{SOLVED_HINT} {self.hint}" if self.status == SOLVED_HINT else self.status
        return text + (f" ({self.note})" if self.note else "")


def status_of(entry: dict | None) -> tuple[str, int | None, bool, str]:
    """(status, hint level, measured?, note) for one exercise's record: the best result ever reached.

    An exercise that passed once is solved (after the hints revealed before it first passed) even
    when the latest check fails it; the note then says so (see :func:`regressed`). Only revealed
    hints count.
    """
    if not entry:
        return NOT_STARTED, None, False, ""
    if entry.get("passed") or entry.get("first_passed"):
        note = ""
        if not entry.get("passed"):
            note = REGRESSED if regressed(entry) else "was passing, now not started"
        measured = entry.get("hint_measured")
        if measured:
            return SOLVED_HINT, int(measured), True, note
        return SOLVED_ALONE, None, False, note
    opened = revealed_levels(entry)
    if entry.get("ever_attempted") or opened:
        return ATTEMPTED, None, False, f"hint {max(opened)} opened" if opened else ""
    return NOT_STARTED, None, False, ""


def regressed(entry: dict | None) -> bool:
    """Did this exercise pass once and fail in the latest check? (Back to its stub after a reset is not.)"""
    if not entry:
        return False
    return bool(entry.get("first_passed")) and not entry.get("passed") and bool(entry.get("attempted"))


def revealed_levels(entry: dict) -> list[int]:
    return [int(h.get("level", 0)) for h in entry.get("hints_opened", []) if isinstance(h, dict)]


def _notebook_order(path: Path) -> tuple[int, str]:
    """Within a module: the exercises notebook first, then the others (a capstone) by name."""
    return (0 if path.stem.endswith("-exercises") else 1, path.name)


def overview(root: Path, data: dict | None = None) -> list[ExerciseStatus]:
    """Every exercise of the course, in ladder order (module, then notebook, then notebook order)."""
    data = data if data is not None else load(root)
    rows: list[ExerciseStatus] = []
    for module in modules(root):
        for source in sorted(source_notebooks(root, module), key=_notebook_order):
            key = notebook_key(source)
            recorded = data["notebooks"].get(key, {}).get("exercises", {})
            for spec in exercises(read_notebook(source)).values():
                if not spec.test_ids:
                    continue
                entry = recorded.get(spec.name)
                status, hint, measured, note = status_of(entry)
                rows.append(
                    ExerciseStatus(
                        module, key, spec.name, spec.level, status, hint, measured, note, regressed(entry)
                    )
                )
    return rows


def prerequisites(rows: list[ExerciseStatus], row: ExerciseStatus) -> list[ExerciseStatus]:
    """Earlier modules' warm-up and core exercises, and earlier exercises in the same notebook."""
    before = rows[: rows.index(row)]
    return [
        r
        for r in before
        if (r.module != row.module and r.level in ("warmup", "core")) or r.notebook == row.notebook
    ]


def suggest_next(rows: list[ExerciseStatus]) -> ExerciseStatus | None:
    """The first unsolved exercise whose prerequisites are solved (stretch tasks only when nothing else is open)."""
    ready = [r for r in rows if not r.solved and all(p.solved for p in prerequisites(rows, r))]
    return next((r for r in ready if r.level != "stretch"), ready[0] if ready else None)


def module_done(rows: list[ExerciseStatus], module: str) -> bool:
    """Is every exercise of ``module`` solved?"""
    mine = [r for r in rows if r.module == module]
    return bool(mine) and all(r.solved for r in mine)


NEXT_MARK = "→"


def render(rows: list[ExerciseStatus]) -> str:
    """The overview ``proximal progress`` prints: ladder order, full names, the next step marked."""
    lines: list[str] = []
    width = max([len(r.name) for r in rows] + [8])
    todo = suggest_next(rows)
    current = None
    for row in rows:
        if row.notebook != current:
            if (
                current is not None
                and module_done(rows, rows[rows.index(row) - 1].module)
                and (rows[rows.index(row) - 1].module != row.module)
            ):
                lines.append(f"  Module {rows[rows.index(row) - 1].module} is done.")
            current = row.notebook
            lines.append(("" if not lines else "\n") + row.notebook)
        level = {"warmup": "warm-up"}.get(row.level, row.level)
        if row is todo:
            mark = NEXT_MARK
        elif row.regressed:
            mark = REGRESSED_MARK
        else:
            mark = "✓" if row.solved else ("…" if row.status == ATTEMPTED else " ")
        tail = "   <- next step" if row is todo else ""
        lines.append(f"  {mark} {row.name.ljust(width)}  {level.ljust(7)}  {row.label()}{tail}")
    if rows and module_done(rows, rows[-1].module):
        lines.append(f"  Module {rows[-1].module} is done.")
    solved = sum(r.solved for r in rows)
    lines.append(f"\n{solved}/{len(rows)} exercises solved.")
    broken = [r for r in rows if r.regressed]
    if todo is None:
        if not rows:
            lines.append("No exercises found.")
        elif broken:
            lines.append(
                "Everything has been solved once. Well done! Fix what fails now before you hand it in."
            )
        else:
            lines.append("Everything is solved. Well done!")
    else:
        lines.append(f"Next: '{todo.name}' ({todo.level}) in workspace/{todo.notebook}.")
    if broken:
        lines.append(
            f"{REGRESSED_MARK} Was passing, now failing in your latest check (your best result still "
            "counts above): "
            + ", ".join(f"'{r.name}' in workspace/{r.notebook}" for r in broken)
            + ". Undo the change that broke it, or run its test cell to see what fails now."
        )
    lines.append("")
    lines.append(
        "Hint use is measured: a level counts when you revealed it (the hint button under the exercise, "
        "or `proximal hint`) before the exercise first passed."
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- the figure


def plot_progress(
    ax=None, root: str | os.PathLike[str] | None = None, rows: list[ExerciseStatus] | None = None
):
    """Draw the progress as a grid: one row per exercise notebook, one square per exercise, coloured by status.

    Rows follow the ladder (top to bottom), names are shown in full, the next step is outlined and
    a finished module is marked "done". Returns the matplotlib Axes. ``root`` defaults to the
    course this package belongs to.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    if rows is None:
        rows = overview(find_course_root(root if root is not None else Path.cwd()))
    notebooks = list(dict.fromkeys(r.notebook for r in rows))
    width = max([sum(r.notebook == nb for r in rows) for nb in notebooks] + [1])
    longest = max([len(r.name) for r in rows] + [8])
    cell_w = max(1.5, 0.09 * longest)
    todo = suggest_next(rows)
    if ax is None:
        _, ax = plt.subplots(figsize=(2.2 + cell_w * width, 0.8 + 0.7 * max(len(notebooks), 1)))
    for y, nb in enumerate(notebooks):
        for x, row in enumerate(r for r in rows if r.notebook == nb):
            colour = COLOURS[row.status]
            nxt = row is todo
            ax.add_patch(
                Rectangle(
                    (x + 0.05, y + 0.05),
                    0.9,
                    0.9,
                    facecolor=colour,
                    edgecolor="#1565c0" if nxt else (REGRESSED_EDGE if row.regressed else "white"),
                    linewidth=3 if nxt or row.regressed else 1,
                    hatch="//" if row.regressed else None,
                )
            )
            text = row.name
            if row.status == SOLVED_HINT:
                text += f"\nhint {row.hint}"
            if row.regressed:
                text += "\nnow failing"
            if nxt:
                text += "\nnext"
            dark = row.status == SOLVED_ALONE
            ax.text(
                x + 0.5,
                y + 0.5,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
                fontweight="bold" if nxt else "normal",
            )
    ax.set_xlim(0, width)
    ax.set_ylim(len(notebooks), 0)
    ax.set_yticks([i + 0.5 for i in range(len(notebooks))])
    labels = []
    for nb in notebooks:
        module = nb.split("/")[0]
        done = module_done(rows, module) and nb == [r.notebook for r in rows if r.module == module][-1]
        labels.append(nb.removesuffix(".ipynb") + (" (done)" if done else ""))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xticks([])
    ax.set_frame_on(False)
    title = f"Your progress. Next: {todo.name}" if todo else "Your progress: everything is solved"
    broken = sum(r.regressed for r in rows)
    if broken:
        title += f" ({broken} {'fails' if broken == 1 else 'fail'} now)"
    ax.set_title(title, fontsize=9)
    legend = [Patch(color=COLOURS[s], label=s) for s in (SOLVED_ALONE, SOLVED_HINT, ATTEMPTED, NOT_STARTED)]
    if any(r.regressed for r in rows):
        legend.append(Patch(facecolor="white", edgecolor=REGRESSED_EDGE, hatch="//", label=REGRESSED))
    ax.legend(
        handles=legend,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=len(legend),
        fontsize=7,
        frameon=False,
    )
    return ax
