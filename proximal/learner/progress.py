"""The learner's progress: every ``proximal check`` result, recorded locally, and what to do next.

Where: ``workspace/.progress.json`` in the course folder (git-ignored, written atomically under a
lock). Per notebook (``NN-topic/name.ipynb``) and exercise it keeps the latest points, whether it
passed, when, the hint the check suggested, and which hints were used.

**How hint use is known.** The hints in a notebook are markdown ``<details>`` blocks: opening one
sends nothing anywhere, so it cannot be recorded. Two sources are used instead:

* *measured*: ``proximal hint NOTEBOOK EXERCISE`` prints the next hint from the source notebook and
  records its level; the highest level printed before the exercise first passed is the one reported;
* *inferred*: otherwise, the highest hint level that a failing check suggested ("open Hint k")
  before the exercise first passed. The learner may not have opened it (or may have opened others),
  so ``proximal progress`` marks such levels as "inferred".

An exercise that passed with neither is "solved alone".
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from autograder.notebooks import (
    CourseError,
    exercises,
    find_course_root,
    modules,
    proximal_meta,
    read_notebook,
    source_notebooks,
)

PROGRESS_FILE = ".progress.json"
SCHEMA = 1

SOLVED_ALONE = "solved alone"
SOLVED_HINT = "solved after hint"
ATTEMPTED = "attempted"
NOT_STARTED = "not started"

# status -> colour in the figure
COLOURS = {
    SOLVED_ALONE: "#2e7d32",
    SOLVED_HINT: "#9ccc65",
    ATTEMPTED: "#ffb74d",
    NOT_STARTED: "#e0e0e0",
}


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
            hint = ex.next_hint()
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
                entry["hint_inferred"] = int(entry.get("hint_suggested_max", 0)) or None
            if hint is not None and ex.attempted and "first_passed" not in entry:
                entry["hint_suggested_max"] = max(int(entry.get("hint_suggested_max", 0)), hint)


def record_hint(root: Path, key: str, exercise: str, level: int) -> None:
    """Record that hint ``level`` of ``exercise`` was shown with ``proximal hint``."""
    with _updating(root) as data:
        entry = _entry(data, key, exercise)
        entry.setdefault("hints_opened", []).append({"level": level, "timestamp": _now()})
        if "first_passed" not in entry:
            entry["hint_opened_max"] = max(int(entry.get("hint_opened_max", 0)), level)


# ---------------------------------------------------------------- hints


_SUMMARY = re.compile(r"<summary>(.*?)</summary>", re.S)
_TAGS = re.compile(r"</?(details|summary|b|strong|i|em)\b[^>]*>")


def hint_cells(source_nb, exercise: str) -> dict[int, str]:
    """Hint level -> plain text (title line + body) for ``exercise`` in a source notebook."""
    found: dict[int, str] = {}
    for cell in source_nb.cells:
        meta = proximal_meta(cell)
        if (
            cell.cell_type == "markdown"
            and meta.get("exercise") == exercise
            and isinstance(meta.get("hint"), int)
        ):
            text = cell.source
            match = _SUMMARY.search(text)
            title = _TAGS.sub("", match.group(1)).strip() if match else f"Hint {meta['hint']}"
            body = _TAGS.sub("", _SUMMARY.sub("", text)).strip()
            found[meta["hint"]] = f"{title}\n\n{body}"
    return dict(sorted(found.items()))


def find_source(root: Path, notebook: str | os.PathLike[str]) -> Path:
    """The source notebook for a learner's path, ``NN-topic/name(.ipynb)`` or a unique bare name."""
    given = Path(notebook)
    if given.suffix != ".ipynb":
        given = given.with_suffix(".ipynb")
    if len(given.parts) >= 2 or given.is_file():
        path = given.resolve() if given.exists() else (Path.cwd() / given).resolve()
        candidate = root / "solutions" / path.parent.name / path.name
        if candidate.is_file():
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
    """(level, number of hints, text) of the next hint of ``exercise`` (or of ``level``); records it."""
    source = find_source(root, notebook)
    hints = hint_cells(read_notebook(source), exercise)
    if not hints:
        names = ", ".join(exercises(read_notebook(source)))
        raise CourseError(f"{exercise!r} has no hints in {source.name}. Exercises: {names}.")
    key = notebook_key(source)
    if level is None:
        entry = load(root)["notebooks"].get(key, {}).get("exercises", {}).get(exercise, {})
        seen = [h.get("level", 0) for h in entry.get("hints_opened", [])]
        level = min(max(seen, default=0) + 1, max(hints))
    if level not in hints:
        raise CourseError(f"{exercise!r} has hints {', '.join(map(str, hints))}; there is no hint {level}.")
    record_hint(root, key, exercise, level)
    return level, max(hints), hints[level]


# ---------------------------------------------------------------- the overview


@dataclass
class ExerciseStatus:
    module: str
    notebook: str  # NN-topic/name.ipynb
    name: str
    level: str
    status: str
    hint: int | None = None
    hint_measured: bool = False
    note: str = ""

    @property
    def solved(self) -> bool:
        return self.status in (SOLVED_ALONE, SOLVED_HINT)

    def label(self) -> str:
        if self.status == SOLVED_HINT:
            how = "" if self.hint_measured else " (inferred)"
            text = f"{SOLVED_HINT} {self.hint}{how}"
        else:
            text = self.status
        return text + (f" ({self.note})" if self.note else "")


def status_of(entry: dict | None) -> tuple[str, int | None, bool, str]:
    """(status, hint level, measured?, note) for one exercise's record."""
    if not entry:
        return NOT_STARTED, None, False, ""
    if entry.get("passed"):
        measured, inferred = entry.get("hint_measured"), entry.get("hint_inferred")
        if measured:
            return SOLVED_HINT, int(measured), True, ""
        if inferred:
            return SOLVED_HINT, int(inferred), False, ""
        return SOLVED_ALONE, None, False, ""
    if entry.get("ever_attempted") or entry.get("hints_opened"):
        return ATTEMPTED, None, False, "passed earlier" if entry.get("first_passed") else ""
    return NOT_STARTED, None, False, ""


def overview(root: Path, data: dict | None = None) -> list[ExerciseStatus]:
    """Every exercise of the course, in ladder order, with its status."""
    data = data if data is not None else load(root)
    rows: list[ExerciseStatus] = []
    for module in modules(root):
        for source in source_notebooks(root, module):
            key = notebook_key(source)
            recorded = data["notebooks"].get(key, {}).get("exercises", {})
            for spec in exercises(read_notebook(source)).values():
                if not spec.test_ids:
                    continue
                status, hint, measured, note = status_of(recorded.get(spec.name))
                rows.append(ExerciseStatus(module, key, spec.name, spec.level, status, hint, measured, note))
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


def render(rows: list[ExerciseStatus]) -> str:
    lines: list[str] = []
    width = max([len(r.name) for r in rows] + [8])
    current = None
    for row in rows:
        if row.notebook != current:
            current = row.notebook
            lines.append(("" if not lines else "\n") + row.notebook)
        level = {"warmup": "warm-up"}.get(row.level, row.level)
        mark = "✓" if row.solved else ("…" if row.status == ATTEMPTED else " ")
        lines.append(f"  {mark} {row.name.ljust(width)}  {level.ljust(7)}  {row.label()}")
    solved = sum(r.solved for r in rows)
    lines.append(f"\n{solved}/{len(rows)} exercises solved.")
    todo = suggest_next(rows)
    if todo is None:
        lines.append("Everything is solved. Well done!" if rows else "No exercises found.")
    else:
        where = f"workspace/{todo.notebook}"
        lines.append(f"Next: '{todo.name}' ({todo.level}) in {where}.")
    lines.append("")
    lines.append(
        "How hint use is known: hints opened in the notebook cannot be seen. A level shown plainly was "
        "printed by `proximal hint`; '(inferred)' means the highest hint a failing check suggested "
        "before the exercise passed."
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- the figure


def plot_progress(
    ax=None, root: str | os.PathLike[str] | None = None, rows: list[ExerciseStatus] | None = None
):
    """Draw the progress as a grid: one row per exercise notebook, one square per exercise, coloured by status.

    Returns the matplotlib Axes. ``root`` defaults to the course this package belongs to.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    if rows is None:
        rows = overview(find_course_root(root if root is not None else Path.cwd()))
    notebooks = list(dict.fromkeys(r.notebook for r in rows))
    width = max([sum(r.notebook == nb for r in rows) for nb in notebooks] + [1])
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 + 1.5 * width, 0.8 + 0.6 * max(len(notebooks), 1)))
    for y, nb in enumerate(notebooks):
        for x, row in enumerate(r for r in rows if r.notebook == nb):
            colour = COLOURS[row.status]
            ax.add_patch(Rectangle((x + 0.05, y + 0.05), 0.9, 0.9, facecolor=colour, edgecolor="white"))
            text = row.name if len(row.name) <= 14 else row.name[:13] + "…"
            if row.status == SOLVED_HINT:
                text += f"\nhint {row.hint}" + ("" if row.hint_measured else "?")
            dark = row.status == SOLVED_ALONE
            ax.text(
                x + 0.5,
                y + 0.5,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if dark else "black",
            )
    ax.set_xlim(0, width)
    ax.set_ylim(len(notebooks), 0)
    ax.set_yticks([i + 0.5 for i in range(len(notebooks))])
    ax.set_yticklabels([nb.removesuffix(".ipynb") for nb in notebooks], fontsize=8)
    ax.set_xticks([])
    ax.set_frame_on(False)
    ax.set_title("Your progress (hint k? = inferred from the check's suggestion)", fontsize=9)
    legend = [Patch(color=COLOURS[s], label=s) for s in (SOLVED_ALONE, SOLVED_HINT, ATTEMPTED, NOT_STARTED)]
    ax.legend(
        handles=legend, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize=7, frameon=False
    )
    return ax
