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


def lint_source(path: Path, require_catalogue: bool = True) -> list[str]:
    """Problems with one nbgrader source notebook, as ``file: message`` lines."""
    nb = read_notebook(path)
    headings = lesson_headings(path.parent.parent.parent / "course" / path.parent.name)
    problems = lint_notebook(nb, headings, require_catalogue)
    return [f"{path}: {p}" for p in problems] + _lint_outputs(path, nb)


def lesson_headings(folder: Path) -> list[str]:
    """The headings of the lessons in ``folder`` (``course/NN-topic``), for hints that name a section."""
    found: list[str] = []
    for lesson in sorted(folder.glob("*-lesson.ipynb")):
        for cell in read_notebook(lesson).cells:
            if cell.cell_type == "markdown":
                found += [ln.lstrip("#").strip() for ln in cell.source.splitlines() if ln.startswith("#")]
    return [h for h in found if h]


def lint_notebook(
    nb, headings: list[str] | tuple[str, ...] = (), require_catalogue: bool = False
) -> list[str]:
    """Problems with one source notebook (already read); ``headings``: its module's lesson headings."""
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
    problems += hint_content_problems(nb, headings)
    problems += catalogue_problems(nb, require_catalogue)
    levels = [ex.level for ex in found.values() if ex.answer_id and ex.level in LEVELS]
    for level in LEVELS:
        if level not in levels:
            problems.append(f"no {level} exercise")
    if levels != sorted(levels, key=LEVELS.index):
        problems.append("exercises must run warm-up, then core, then stretch")
    if not any("check" in c.metadata.get("tags", []) for c in nb.cells):
        problems.append("the final 'Check your work' cell (tagged 'check') is missing")
    return problems


# ---------------------------------------------------------------- what hints say

SECTION_WORD = re.compile(r"\b(section|lesson)\b", re.I)
FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)
SOLUTION = re.compile(r"### BEGIN SOLUTION(.*?)### END SOLUTION", re.S)
# lines that say nothing about the solution: returning a name, placeholders, lone brackets, bare keywords
TRIVIAL = re.compile(r"^(pass|\.\.\.|return|return\s+\w+|[()\[\]{},;:]+|else:|try:|finally:|break|continue)$")
MINIMUM_MISTAKES = {"core": 3, "warmup": 1, "stretch": 1}


def substantive_lines(answer_source: str) -> list[str]:
    """The solution's lines that carry its idea: stripped, not blank, not comments, not trivial."""
    lines: list[str] = []
    for region in SOLUTION.findall(answer_source):
        for line in region.splitlines():
            line = line.strip()
            if line and not line.startswith("#") and not TRIVIAL.match(line):
                lines.append(line)
    return lines


def repeated_lines(hint_text: str, solution_lines: list[str]) -> list[str]:
    """The solution lines that also stand, stripped, as a line of the hint."""
    hint = {line.strip() for line in hint_text.splitlines()}
    return [line for line in solution_lines if line in hint]


def hint_content_problems(nb, headings: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The rules for what hints say (docs/authoring.md, "Writing hints and mistakes").

    * Hint 1 asks a question (a ``?``) and names a lesson section ("section"/"lesson", or a heading);
    * hint 2 gives the method in words: no fenced code block longer than two lines;
    * no hint repeats more than a third of its solution's substantive lines.
    """
    answers = {proximal_meta(c).get("exercise"): c.source for c in nb.cells if is_answer_cell(c)}
    problems: list[str] = []
    for cell in nb.cells:
        meta = proximal_meta(cell)
        if cell.cell_type != "markdown" or not isinstance(meta.get("hint"), int):
            continue
        level, name = meta["hint"], meta.get("exercise")
        where = f"hint {level} of {name!r}"
        body = re.sub(r"<summary>.*?</summary>", "", cell.source, flags=re.S)
        if level == 1:
            if "?" not in body:
                problems.append(f"{where} must ask a question (it has no '?')")
            titles = [re.sub(r"^[\d.\s]+", "", h).strip().lower() for h in headings]
            named = SECTION_WORD.search(body) or any(t in body.lower() for t in titles if len(t) > 3)
            if not named:
                problems.append(f"{where} must name the lesson section that helps (e.g. 'lesson, section 5')")
        if level == 2:
            for block in FENCE.findall(body):
                if len([ln for ln in block.splitlines() if ln.strip()]) > 2:
                    problems.append(
                        f"{where} must give the method in words: its code block has more than 2 lines"
                    )
                    break
        solution = substantive_lines(answers.get(name, ""))
        repeated = repeated_lines(body, solution)
        if solution and len(repeated) * 3 > len(solution):
            problems.append(
                f"{where} repeats {len(repeated)} of the solution's {len(solution)} substantive lines "
                f"(at most a third may appear), e.g. {repeated[0]!r}"
            )
    return problems


def catalogue_problems(nb, require_catalogue: bool = False) -> list[str]:
    """Each mistake entry has name, code and message; with ``require_catalogue``, the minimum counts too."""
    from proximal.authoring.mistakes import catalogue, entry_problems

    problems: list[str] = []
    for cell in nb.cells:
        if not is_answer_cell(cell):
            continue
        meta = proximal_meta(cell)
        name, raw = meta.get("exercise"), meta.get("mistakes", [])
        if not isinstance(raw, list):
            problems.append(f"exercise {name!r}: metadata.proximal.mistakes must be a list")
            continue
        for index, entry in enumerate(catalogue(cell)):
            problems += [f"exercise {name!r}: mistake {index + 1}: {p}" for p in entry_problems(entry)]
        need = MINIMUM_MISTAKES.get(meta.get("level", "core"), 1)
        if require_catalogue and len(raw) < need:
            problems.append(
                f"exercise {name!r} catalogues {len(raw)} mistake(s); a {meta.get('level')} needs {need}"
            )
    return problems


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


def lint_course(root: Path, require_catalogue: bool = True) -> list[str]:
    """Every problem in the course's notebooks; empty when all is well.

    ``require_catalogue`` also enforces the minimum mistake catalogue (3 per core exercise, 1 per
    warm-up and stretch): off by default while the modules are being catalogued.
    """
    problems: list[str] = []
    for source in source_notebooks(root):
        problems += lint_source(source, require_catalogue)
        problems += lint_release(source, root / "exercises" / source.parent.name / source.name)
    for lesson in sorted((root / "course").glob("*/*.ipynb")):
        problems += _lint_outputs(lesson, read_notebook(lesson))
    known = set(modules(root))
    for folder in sorted((root / "exercises").iterdir()) if (root / "exercises").is_dir() else []:
        if folder.is_dir() and folder.name not in known:
            problems.append(f"{folder}: no matching module in solutions/ (run `make release`)")
    return problems
