"""``proximal report MODULE``: where is the class stuck, and who could help whom.

Scores come from nbgrader's gradebook (``gradebook.db``: manual grades count); the failing
assertion messages from the autograded notebooks (``autograded/<student>/<module>/*.ipynb``: the
error output of each test cell). Per exercise it gives the pass rate and the most frequent
failure messages (messages that differ only in numbers count as one), writes a bar chart of the
pass rates, and suggests pairs for the next session: a learner stuck on an exercise with one
who solved it, preferring solvers who needed fewer hints where that is known (a learner's
``progress.json``/``.progress.json`` handed in beside the notebook), then higher scores.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from autograder.notebooks import CourseError, exercises, grade_id, is_test_cell, read_notebook

NOT_ATTEMPTED = "not attempted yet (the answer still raises NotImplementedError)"


@dataclass
class ExerciseStats:
    notebook: str
    name: str
    level: str
    students: int = 0
    passed: int = 0
    not_attempted: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)  # (count, example message), top first

    @property
    def pass_rate(self) -> float:
        return self.passed / self.students if self.students else 0.0


@dataclass
class Pair:
    helper: str
    learner: str
    exercise: str
    reason: str


@dataclass
class ClassReport:
    module: str
    students: list[str]
    exercises: list[ExerciseStats]
    pairs: list[Pair]
    unpaired: list[tuple[str, str]]  # (learner, exercise) with no free solver
    chart: Path | None


# ---------------------------------------------------------------- reading


def _key(message: str) -> str:
    """Messages that differ only in numbers (values, addresses) are the same failure."""
    return re.sub(r"0x[0-9a-f]+|\d+(\.\d+)?", "#", message.strip())


def _scores(
    root: Path, module: str, db_url: str | None
) -> dict[str, dict[tuple[str, str], tuple[float, float]]]:
    """student -> {(notebook, grade cell): (score, max score)} from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
    if db_url.startswith("sqlite:///") and not Path(db_url.removeprefix("sqlite:///")).is_file():
        raise CourseError(
            f"No gradebook at {db_url.removeprefix('sqlite:///')}: run `proximal grade {module}` first."
        )
    out: dict[str, dict[tuple[str, str], tuple[float, float]]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Gradebook(db_url) as gb:
            try:
                assignment = gb.find_assignment(module)
            except MissingEntry as exc:
                raise CourseError(
                    f"{module} has not been graded yet: run `proximal grade {module}`."
                ) from exc
            for submission in assignment.submissions:
                cells = out.setdefault(submission.student.id, {})
                for nb in submission.notebooks:
                    for grade in nb.grades:
                        cells[(nb.name, grade.name)] = (float(grade.score or 0), float(grade.max_score or 0))
    return out


def _failure_messages(root: Path, module: str, student: str, notebook: str) -> dict[str, list[str]]:
    """grade id -> failure messages of that test cell in the student's autograded notebook."""
    from proximal.learner.check import _failure

    path = root / "autograded" / student / module / f"{notebook}.ipynb"
    if not path.is_file():
        return {}
    try:
        nb = read_notebook(path)
    except CourseError:
        return {}
    found: dict[str, list[str]] = {}
    for cell in nb.cells:
        if is_test_cell(cell):
            message = _failure(cell)
            if message:
                found[grade_id(cell) or ""] = [message]
    return found


def _hints_used(root: Path, module: str, student: str) -> dict[str, int]:
    """exercise -> hint level the student needed, from a progress file handed in with the submission."""
    from proximal.learner.progress import SOLVED_ALONE, SOLVED_HINT, status_of

    for name in ("progress.json", ".progress.json"):
        path = root / "submitted" / student / module / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        used: dict[str, int] = {}
        for key, notebook in (data.get("notebooks") or {}).items():
            if not str(key).startswith(module + "/"):
                continue
            for exercise, entry in (notebook.get("exercises") or {}).items():
                status, level, _, _ = status_of(entry)
                if status == SOLVED_ALONE:
                    used[exercise] = 0
                elif status == SOLVED_HINT:
                    used[exercise] = int(level or 0)
        return used
    return {}


# ---------------------------------------------------------------- the report


def build(
    root: Path,
    module: str,
    db_url: str | None = None,
    csv_path: Path | None = None,
    chart: bool = True,
    hints: dict[str, dict[str, int]] | None = None,
) -> ClassReport:
    """Read the gradebook and autograded notebooks of ``module``; write the chart; suggest pairs.

    ``hints`` (student -> exercise -> hint level) overrides the progress files handed in.
    """
    root = root.resolve()
    sources = sorted((root / "solutions" / module).glob("*.ipynb"))
    if not sources:
        raise CourseError(f"No module '{module}' under {root / 'solutions'}.")
    scores = _scores(root, module, db_url)
    students = sorted(scores)
    stats: list[ExerciseStats] = []
    passed: dict[str, set[str]] = defaultdict(set)  # exercise label -> students who passed
    first_message: dict[tuple[str, str], str] = {}  # (student, exercise label) -> first failure
    for source in sources:
        nb_name = source.stem
        specs = [s for s in exercises(read_notebook(source)).values() if s.test_ids]
        messages = {s: _failure_messages(root, module, s, nb_name) for s in students}
        for spec in specs:
            label = spec.name if len(sources) == 1 else f"{nb_name}:{spec.name}"
            row = ExerciseStats(nb_name, label, spec.level)
            groups: dict[str, Counter] = defaultdict(Counter)
            for student in students:
                cells = [scores[student].get((nb_name, t)) for t in spec.test_ids]
                got = sum(c[0] for c in cells if c)
                top = sum(c[1] for c in cells if c) or spec.points
                row.students += 1
                if top > 0 and got >= top:
                    row.passed += 1
                    passed[label].add(student)
                    continue
                texts = [m for t in spec.test_ids for m in messages[student].get(t, [])]
                if NOT_ATTEMPTED in texts or not any(cells):
                    row.not_attempted += 1
                for text in texts:
                    if text != NOT_ATTEMPTED:
                        groups[_key(text)][text] += 1
                        first_message.setdefault((student, label), text)
            ranked = sorted(groups.values(), key=lambda c: (-sum(c.values()), c.most_common(1)[0][0]))
            row.failures = [(sum(c.values()), c.most_common(1)[0][0]) for c in ranked[:3]]
            stats.append(row)
    known_hints = hints if hints is not None else {s: _hints_used(root, module, s) for s in students}
    totals = {s: sum(v[0] for v in scores[s].values()) for s in students}
    pairs, unpaired = suggest_pairs(
        students, [r.name for r in stats], passed, totals, known_hints, first_message
    )
    chart_path = None
    if chart and stats:
        chart_path = (csv_path or root / "grades.csv").resolve().parent / f"report-{module}.png"
        plot_pass_rates(stats, module, chart_path)
    return ClassReport(module, students, stats, pairs, unpaired, chart_path)


def suggest_pairs(
    students: list[str],
    order: list[str],
    passed: dict[str, set[str]],
    totals: dict[str, float],
    hints: dict[str, dict[str, int]],
    first_message: dict[tuple[str, str], str] | None = None,
) -> tuple[list[Pair], list[tuple[str, str]]]:
    """Pair each learner stuck on an exercise with a free learner who solved it; nobody is in two pairs.

    A learner is stuck on their first unsolved exercise (in notebook order). Learners whose
    exercise has the fewest solvers are matched first (scarce helpers go where they are needed);
    among solvers, fewer hints used (where known) comes first, then a higher total score.
    """
    first_message = first_message or {}
    stuck = {}
    for student in students:
        todo = next((ex for ex in order if student not in passed.get(ex, set())), None)
        if todo is not None:
            stuck[student] = todo
    busy: set[str] = set()
    pairs: list[Pair] = []
    unpaired: list[tuple[str, str]] = []

    def solvers(ex: str) -> list[str]:
        return [s for s in students if s in passed.get(ex, set())]

    # scarce solvers first; among equals, learners who tried and failed before those who have not started
    queue = sorted(
        stuck,
        key=lambda s: (
            len(solvers(stuck[s])),
            order.index(stuck[s]),
            (s, stuck[s]) not in first_message,
            totals.get(s, 0),
            s,
        ),
    )
    for learner in queue:
        if learner in busy:
            continue
        ex = stuck[learner]

        def rank(s: str, ex: str = ex) -> tuple:
            level = hints.get(s, {}).get(ex)
            return (level is None, level if level is not None else 0, -totals.get(s, 0), s)

        free = sorted((s for s in solvers(ex) if s not in busy and s != learner), key=rank)
        if not free:
            unpaired.append((learner, ex))
            continue
        helper = free[0]
        busy |= {learner, helper}
        level = hints.get(helper, {}).get(ex)
        how = (
            ("solved it alone" if level == 0 else f"solved it after hint {level}")
            if level is not None
            else f"solved it (score {totals.get(helper, 0):g})"
        )
        what = first_message.get((learner, ex))
        detail = f" ({_clip(what, 80)})" if what else " (not attempted yet)"
        pairs.append(Pair(helper, learner, ex, f"{learner} is stuck on {ex}{detail}; {helper} {how}."))
    return pairs, unpaired


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_pass_rates(stats: list[ExerciseStats], module: str, path: Path) -> Path:
    """A bar chart of the pass rate per exercise, saved as PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(stats), 3.2))
    colours = {"warmup": "#90caf9", "core": "#1e88e5", "stretch": "#0d47a1"}
    bars = ax.bar(
        range(len(stats)),
        [100 * r.pass_rate for r in stats],
        color=[colours.get(r.level, "#1e88e5") for r in stats],
    )
    for bar, row in zip(bars, stats, strict=True):
        ax.annotate(
            f"{row.passed}/{row.students}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(range(len(stats)), [r.name for r in stats], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_ylabel("passed (%)")
    ax.set_title(f"{module}: pass rate per exercise\n(light: warm-up, mid: core, dark: stretch)", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render(report: ClassReport, pairs: bool = True) -> str:
    lines = [f"{report.module}: {len(report.students)} graded submission(s)", ""]
    width = max([len(r.name) for r in report.exercises] + [8])
    for row in report.exercises:
        extra = f", {row.not_attempted} not attempted" if row.not_attempted else ""
        level = {"warmup": "warm-up"}.get(row.level, row.level)
        lines.append(
            f"{row.name.ljust(width)}  {level.ljust(7)}  passed {row.passed}/{row.students} "
            f"({100 * row.pass_rate:.0f}%){extra}"
        )
        for count, message in row.failures:
            lines.append(f"{'':{width}}    {count}× {_clip(message, 140)}")
    if report.chart:
        lines += ["", f"Chart: {report.chart}"]
    if pairs:
        lines += ["", "Suggested pairs for the next session (helper → learner):"]
        if not report.pairs and not report.unpaired:
            lines.append("  none: nobody is stuck.")
        for pair in report.pairs:
            lines.append(f"  {pair.helper} → {pair.learner}: {pair.reason}")
        for learner, ex in report.unpaired:
            lines.append(
                f"  {learner}: stuck on {ex}, no free classmate has solved it (a job for the instructor)."
            )
    return "\n".join(lines)
