"""``proximal lint``: structural checks of the course notebooks (the rules of docs/authoring.md)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from autograder.notebooks import (
    HINT_LABELS,
    LEVELS,
    exercises,
    grade_id,
    is_answer_cell,
    is_test_cell,
    modules,
    nbgrader_meta,
    proximal_meta,
    read_notebook,
    source_notebooks,
)

HINT_SUMMARY = re.compile(r"<summary>\s*(?:<b>)?\s*Hint (\d+) of (\d+) — ([^<]+?)\s*(?:</b>)?\s*</summary>")
REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)(.*?)### END \1", re.S)


def lint_source(path: Path) -> list[str]:
    """Problems with one nbgrader source notebook, as ``file: message`` lines."""
    nb = read_notebook(path)
    problems: list[str] = []
    ids = [grade_id(c) for c in nb.cells if nbgrader_meta(c)]
    for cid, count in Counter(ids).items():
        if cid is None:
            problems.append("a cell has nbgrader metadata but no grade_id")
        elif count > 1:
            problems.append(f"grade_id {cid!r} is used {count} times")
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if not meta:
            continue
        cid = grade_id(cell)
        if meta.get("schema_version") != 3:
            problems.append(f"{cid}: schema_version must be 3")
        if is_test_cell(cell):
            if not meta.get("points"):
                problems.append(f"{cid}: a test cell needs points > 0")
            if not meta.get("locked"):
                problems.append(f"{cid}: a test cell must be locked")
        if (is_answer_cell(cell) or is_test_cell(cell)) and "exercise" not in proximal_meta(cell):
            problems.append(f"{cid}: missing metadata.proximal.exercise")
        if is_answer_cell(cell) and proximal_meta(cell).get("level") not in LEVELS:
            problems.append(f"{cid}: metadata.proximal.level must be one of {', '.join(LEVELS)}")
        if is_answer_cell(cell) and "### BEGIN SOLUTION" not in cell.source:
            problems.append(f"{cid}: an answer cell needs a ### BEGIN SOLUTION region")
    found = exercises(nb)
    if not found:
        problems.append("no exercises (no cells with metadata.proximal.exercise)")
    for name, ex in found.items():
        if ex.answer_id is None:
            problems.append(f"exercise {name!r} has no answer cell")
        if not ex.test_ids:
            problems.append(f"exercise {name!r} has no test cell")
        if ex.level == "core" and len(ex.hints) < 3:
            problems.append(f"core exercise {name!r} has {len(ex.hints)} hints; it needs at least 3")
        if ex.hints and ex.hints != list(range(1, len(ex.hints) + 1)):
            problems.append(f"exercise {name!r}: hints must be numbered 1..n in order, found {ex.hints}")
    problems += _lint_hints(nb)
    levels = [ex.level for ex in found.values() if ex.answer_id and ex.level in LEVELS]
    for level in LEVELS:
        if level not in levels:
            problems.append(f"no {level} exercise")
    if levels != sorted(levels, key=LEVELS.index):
        problems.append("exercises must run warm-up, then core, then stretch")
    if not any("check" in c.metadata.get("tags", []) for c in nb.cells):
        problems.append("the final 'Check your work' cell (tagged 'check') is missing")
    return [f"{path}: {p}" for p in problems] + _lint_outputs(path, nb)


def _lint_hints(nb) -> list[str]:
    problems: list[str] = []
    totals = Counter(proximal_meta(c).get("exercise") for c in nb.cells if "hint" in proximal_meta(c))
    for cell in nb.cells:
        meta = proximal_meta(cell)
        if "hint" not in meta:
            continue
        where = f"hint {meta['hint']} of {meta.get('exercise')!r}"
        if cell.cell_type != "markdown":
            problems.append(f"{where} must be a markdown cell")
            continue
        match = HINT_SUMMARY.search(cell.source)
        if "<details>" not in cell.source or not match:
            problems.append(f"{where} must be a closed <details> block with a 'Hint k of n — ...' summary")
            continue
        number, total, label = int(match.group(1)), int(match.group(2)), match.group(3)
        if number != meta["hint"] or total != totals[meta.get("exercise")]:
            problems.append(f"{where}: its summary says 'Hint {number} of {total}'")
        expected = HINT_LABELS.get(number)
        if expected and label != expected:
            problems.append(f"{where}: the summary should end with '— {expected}'")
    return problems


def _lint_outputs(path: Path, nb) -> list[str]:
    for cell in nb.cells:
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            return [f"{path}: committed with outputs or execution counts (strip them: nbstripout)"]
    return []


def lint_release(source_path: Path, release_path: Path) -> list[str]:
    """The released notebook must carry no solution and no hidden-test text."""
    if not release_path.is_file():
        return [f"{release_path}: missing (run `make release`)"]
    source, release = read_notebook(source_path), read_notebook(release_path)
    # hints may show near-solution code on purpose, so only graded cells are searched for leaks
    released_text = "\n".join(c.source for c in release.cells if nbgrader_meta(c))
    problems = []
    if "### BEGIN SOLUTION" in released_text or "### BEGIN HIDDEN TESTS" in released_text:
        problems.append("contains solution or hidden-test markers")
    # a line that also stands outside every region (e.g. the same assert in a visible test) is no leak
    outside = "\n".join(REGION.sub("", cell.source) for cell in source.cells)
    for cell in source.cells:
        for match in REGION.finditer(cell.source):
            for line in match.group(2).splitlines():
                line = line.strip()
                if len(line) >= 12 and line not in outside and line in released_text:
                    problems.append(f"{grade_id(cell)}: leaks {line!r}")
    return [f"{release_path}: {p}" for p in problems] + _lint_outputs(release_path, release)


def lint_course(root: Path) -> list[str]:
    """Every problem in the course's notebooks; empty when all is well."""
    problems: list[str] = []
    for source in source_notebooks(root):
        problems += lint_source(source)
        problems += lint_release(source, root / "exercises" / source.parent.name / source.name)
    for lesson in sorted((root / "course").glob("*/*.ipynb")):
        problems += _lint_outputs(lesson, read_notebook(lesson))
    known = set(modules(root))
    for folder in sorted((root / "exercises").iterdir()) if (root / "exercises").is_dir() else []:
        if folder.is_dir() and folder.name not in known:
            problems.append(f"{folder}: no matching module in solutions/ (run `make release`)")
    return problems
