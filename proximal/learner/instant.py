"""The instant check: ``check("fetch_all")`` runs one exercise's tests in the live kernel.

Like otter-grader's ``grader.check("q1")``, it answers in the kernel the learner is working in,
without saving or restarting anything: the exercise's full tests (hidden ones included when
``solutions/`` is there, else the visible tests of the released notebook) run one cell at a time
in the notebook's namespace, each after the guard's restore (:func:`autograder.guard.restore`) as
in grading, and are scored with nbgrader's rule. The result is phrased by the same code as the
whole-notebook check (:mod:`proximal.learner.check`), which stays the final word: ``check()``
runs the saved notebook in a fresh kernel, and a test proves both give the same points per cell.

When the test fails because of another exercise's function (its traceback passes through it, or
the exercise's code calls it), that exercise's tests run too, so the check can say "fix it first".
The check also says when the saved file's answer differs from what the kernel last ran.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import copy
import gc
import inspect
import io
import re
import threading
import warnings
from pathlib import Path

from nbformat import NotebookNode

from autograder.notebooks import (
    CourseError,
    exercises,
    find_course_root,
    grade_id,
    is_answer_cell,
    is_test_cell,
    nbgrader_meta,
    proximal_meta,
    read_notebook,
    source_of,
)
from autograder.pipeline import CellScore

_DEFINES = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)", re.M)


def _shell():
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise CourseError(
            "check('name') runs inside a notebook's kernel; in a terminal use `proximal check`."
        )
    return shell


def tests_notebook(path: Path, root: Path) -> tuple[NotebookNode, bool]:
    """The notebook whose test cells count: the source when there is one (hidden tests), else ``path``."""
    source = source_of(path, root)
    if source is not None:
        return read_notebook(source), True
    return read_notebook(path), False


def _run_async(coro) -> None:
    """Run a test cell's top-level ``await`` on an event loop of its own (the kernel's is busy running us)."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # handed back to the caller's thread as it is
            failure.append(exc)

    thread = threading.Thread(target=target, name="proximal-check")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def _notebook_frames(tb) -> list[tuple[str, int]]:
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.startswith("<ipython-input") or "ipykernel_" in code.co_filename:
            frames.append((code.co_name, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def run_test_cell(cell: NotebookNode, namespace: dict, shell=None) -> CellScore:
    """Run one test cell in ``namespace`` after the guard's restore; its score as the grader gives it."""
    from nbgrader.utils import determine_grade

    import autograder.guard

    executed = copy.deepcopy(cell)
    executed.outputs, executed.execution_count = [], None
    code = shell.transform_cell(cell.source) if shell is not None else cell.source
    stderr = io.StringIO()
    errors: list[tuple[str, str]] = []
    autograder.guard.restore()
    # What the kernel held before the test cannot be the test's garbage: frozen, the collection below
    # looks only at what the test made (a full one takes ~0.3 s in a kernel with nbgrader loaded).
    gc.freeze()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(stderr):
            warnings.simplefilter("default")
            try:
                compiled = compile(
                    code, f"<ipython-input-check-{grade_id(cell)}>", "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
                )
                result = eval(compiled, namespace)  # noqa: S307 - the course's own test cell, as the grader runs it
                if inspect.iscoroutine(result):
                    _run_async(result)
            except Exception as exc:  # the test failed: recorded as the grader records an error output
                name, value = type(exc).__name__, str(exc)
                errors.append((name, value))
                trace = [
                    f"Cell In[0], line {line}, in {func}("
                    for func, line in _notebook_frames(exc.__traceback__)
                ]
                executed.outputs.append(
                    NotebookNode(
                        output_type="error", ename=name, evalue=value, traceback=[*trace, f"{name}: {value}"]
                    )
                )
            gc.collect()  # so that "coroutine ... was never awaited" is said now, inside the capture
    finally:
        gc.unfreeze()
    text = stderr.getvalue() + "".join(
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught
    )
    if text:
        executed.outputs.insert(0, NotebookNode(output_type="stream", name="stderr", text=text))
    points, max_points = determine_grade(executed)
    return CellScore(
        grade_id(cell) or "",
        float(points or 0),
        float(max_points or nbgrader_meta(cell).get("points", 0) or 0),
        True,
        errors,
        text,
        executed,
    )


def last_run(shell, names: set[str]) -> str | None:
    """The last code the kernel ran that defines one of ``names`` (IPython's ``In`` history), if any."""
    history = shell.user_ns.get("In", []) if shell is not None else []
    for source in reversed(history[:-1] if history else []):
        if names & set(_DEFINES.findall(source or "")):
            return source
    return None


def check_exercise(name: str, notebook: str | None = None, record: bool = True):
    """Run exercise ``name``'s tests in this kernel; return a :class:`proximal.learner.check.CheckReport`."""
    from proximal.learner.check import CheckReport, cell_results, set_revealed, summarise

    shell = _shell()
    if notebook is None:
        from proximal import _current_notebook

        notebook = _current_notebook()
    if notebook is None:
        raise CourseError("Could not tell which notebook this is. Run: check('name', notebook='your.ipynb')")
    path = Path(notebook).resolve()
    root = find_course_root(path.parent)
    tests_nb, hidden = tests_notebook(path, root)
    specs = exercises(tests_nb)
    if name not in specs or not specs[name].test_ids:
        raise CourseError(
            f"No exercise {name!r} in {path.name}. Exercises: {', '.join(s for s in specs if specs[s].test_ids)}."
        )
    saved = read_notebook(path) if path.is_file() else tests_nb
    answer_ids = {grade_id(c): proximal_meta(c).get("exercise") for c in tests_nb.cells if is_answer_cell(c)}
    defines = {
        n: set(_DEFINES.findall(c.source))
        for c in tests_nb.cells
        if is_answer_cell(c)
        for n in [proximal_meta(c).get("exercise")]
    }
    # what the kernel ran stands for the learner's answers (the saved file may be older)
    learner = copy.deepcopy(saved)
    problems: list[str] = []
    for cell in learner.cells:
        exercise = answer_ids.get(grade_id(cell))
        if exercise is None:
            continue
        ran = last_run(shell, defines.get(exercise, set()))
        if ran is not None and ran.strip() != cell.source.strip():
            if exercise == name:
                problems.append(
                    "the saved file's answer differs from what you ran last: save (Ctrl+S) so that "
                    "check() and your grade see the same code"
                )
            cell.source = ran

    def run(exercise: str) -> list[CellScore]:
        cells = [
            c for c in tests_nb.cells if is_test_cell(c) and proximal_meta(c).get("exercise") == exercise
        ]
        return [run_test_cell(c, shell.user_ns, shell) for c in cells]

    scores = run(name)
    if any(s.points < s.max_points for s in scores):
        # another exercise may be the cause: run the tests of those this one uses
        order = [n for n in specs if specs[n].test_ids]
        first = summarise(cell_results(scores), tests_nb, learner, detect_cascades=False)
        frames = next((r.frames for r in first if r.name == name), [])
        code = "\n".join([c.source for c in learner.cells if answer_ids.get(grade_id(c)) == name])
        code += "\n".join(
            c.source for c in tests_nb.cells if is_test_cell(c) and proximal_meta(c).get("exercise") == name
        )
        for other in order:
            names = defines.get(other, set()) - defines.get(name, set())
            if (
                other != name
                and names
                and (
                    any(f in names for f in frames)
                    or any(re.search(rf"\b{re.escape(n)}\s*\(", code) for n in names)
                )
            ):
                scores += run(other)
    results = summarise(cell_results(scores), tests_nb, learner)
    mine = [r for r in results if r.name == name]
    if not hidden:
        problems.append("only the visible tests ran (there is no solutions/ folder): check() runs them all")
    report = CheckReport(path, mine, problems)
    set_revealed(report.exercises, root, path)
    if record:
        _record(root, report)
    return report


def _record(root: Path, report) -> None:
    try:
        from proximal.learner.progress import record_check
        from proximal.learner.workspace import in_learner_area

        if in_learner_area(root, report.notebook):
            record_check(root, report)
    except Exception as exc:  # progress is a convenience: the check's answer stands regardless
        print(f"(could not record progress: {exc.__class__.__name__}: {exc})")


def check_in_kernel(name: str, notebook: str | None = None) -> None:
    """``check("name")``: run and show the instant check (see the module docstring)."""
    from proximal.learner.check import render, render_html, show

    try:
        report = check_exercise(name, notebook)
    except CourseError as exc:
        print(exc)
        return
    show(render(report), render_html(report))
