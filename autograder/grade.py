"""``proximal grade``: autograde a class with nbgrader, several submissions at once, safely.

nbgrader does the grading (``autograde``, ``generate_feedback``, the CSV export); this module
adds what it lacks for a batch:

* **parallel**: each submission is graded by a worker process in a private scratch course
  (a copy of the assignment's source, the student's notebooks, a snapshot of the gradebook);
* **transactional**: the main process then copies that student's automatic scores into the real
  gradebook in one transaction and swaps in the autograded/feedback folders; a batch killed
  half-way and run again ends in the same gradebook, and manual grades are never touched;
* **bad input**: every submission is checked first (readable JSON, nbformat 4, UTF-8, the expected
  notebook names); what is wrong becomes a per-student reason and the batch goes on;
* **isolated**: the kernel that runs student code is started through :mod:`autograder.sandbox`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import multiprocessing.util
import os
import shutil
import sqlite3
import stat
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
from jupyter_core.utils import run_sync

from autograder import sandbox
from autograder.guard import insert_guards
from autograder.kernel_manager import KernelSlots, current_slots, use_slots
from autograder.merge import merge
from autograder.nbgrader_env import course_config, nbgrader_api
from autograder.notebooks import CourseError, atomic_write, source_notebooks, write_notebook

if TYPE_CHECKING:
    from autograder.executors import DaskPool, LocalPool


@dataclass
class StudentResult:
    student: str
    graded: bool
    score: float = 0.0
    max_score: float = 0.0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0  # the worker's time on this submission


@dataclass
class BatchReport:
    assignment: str
    results: list[StudentResult]
    csv_path: Path
    seconds: float
    protections: list[str] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)  # cluster workers that lack something, one line each


@dataclass
class WorkerOutcome:
    student: str
    private_root: str
    status: str  # "graded"; "empty": nothing gradable, scores 0; "failed": the grader failed, keep any earlier grade
    notes: list[str]
    seconds: float = 0.0


# ---------------------------------------------------------------- checking a submission


NBGRADER_FILES = ("timestamp.txt", "submission_secret.txt")


def prepare_submission(submitted: Path, dest: Path, sources: dict[str, Path]) -> list[str]:
    """Write the gradable form of a submission into ``dest``; return what was wrong with it.

    Only the notebooks the assignment expects are used (a stray ``numpy.py`` could shadow a
    library). Each is merged with its source (:func:`autograder.merge.merge`: tests from the
    source, tampered grading metadata dropped) and gets guard cells (:mod:`autograder.guard`).
    A notebook that cannot be read is left out, so nbgrader scores it as missing: zero.
    """
    notes: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    # nothing in submitted/ is followed out of it: a linked folder or notebook is not the learner's work
    linked = submitted.is_symlink() or submitted.parent.is_symlink()
    present = sorted(p.name for p in submitted.iterdir()) if submitted.is_dir() and not linked else []
    if linked:
        notes.append("the submission folder is a symbolic link, not a folder; it scores 0")
    elif not present:
        notes.append("empty submission: no files were handed in")
    for name, source in sources.items():
        path = submitted / name
        kind = _special_kind(path) if not linked else None
        if kind is not None:
            notes.append(f"{name} is {kind}, not a notebook; it scores 0")
            continue
        if linked or not path.is_file():
            others = [p for p in present if p.endswith(".ipynb")]
            hint = f" (found {', '.join(others)}: renamed?)" if others else ""
            notes.append(f"{name} is missing{hint}; it scores 0")
            continue
        nb, problem = _read_submitted(path)
        if nb is None:
            notes.append(f"{name}: {problem}; it scores 0")
            continue
        merged, repairs = merge(nb, nbformat.read(source, as_version=4))
        notes += [f"{name}: {note}" for note in ([problem] if problem else []) + repairs]
        write_notebook(insert_guards(merged), dest / name)
    for name in present:
        if name not in sources and name not in NBGRADER_FILES:
            notes.append(f"ignored extra file {name}")
    for name in NBGRADER_FILES:  # nbgrader's own bookkeeping: late penalties, release_feedback
        if not linked and _special_kind(submitted / name) is None and (submitted / name).is_file():
            shutil.copy(submitted / name, dest / name)
    return notes


def _special_kind(path: Path) -> str | None:
    """What ``path`` is if it exists but is not a regular file (a link is never followed); None otherwise."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return None
    return "a special file (a pipe, socket or device)"


def _read_submitted(path: Path) -> tuple[nbformat.NotebookNode | None, str | None]:
    """The notebook, or None and why it cannot be graded; a note when it needed repair."""
    # O_NOFOLLOW: a link put in place after the check above is refused, not followed
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None, "not a regular file"
        raw = handle.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (byte {exc.start})"
    try:
        nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    except Exception as exc:  # nbformat raises JSON, validation and version errors alike
        return None, f"not a readable notebook ({exc.__class__.__name__}: {str(exc)[:120]})"
    if nb.get("nbformat") != 4:
        return None, f"nbformat version {nb.get('nbformat')} (the course uses 4)"
    ids = [cell.get("id") for cell in nb.cells]
    if len(set(ids)) != len(ids):
        for index, cell in enumerate(nb.cells):
            cell["id"] = f"cell-{index}"
        return nb, "duplicate cell ids were renumbered"
    return nb, None


# ---------------------------------------------------------------- the worker


def grade_one(
    root: str,
    assignment: str,
    student: str,
    snapshot: str,
    work: str,
    feedback: bool,
    overrides: dict[str, dict] | None = None,
) -> WorkerOutcome:
    """Autograde one student in a private scratch course (runs in a worker process).

    The notebooks are executed in this worker's stage (see :func:`_worker_stage`), the one folder
    the kernel sees, and moved into the scratch course before the next student's turn.
    ``overrides`` are settings given on the command line, by section (``{"SandboxLimits": {...}}``).
    """
    started = time.perf_counter()
    _quiet_worker(Path(work))
    root_path, private = Path(root), Path(work) / student
    if private.exists():
        shutil.rmtree(private)
    (private / "solutions").mkdir(parents=True)
    shutil.copy(root_path / "nbgrader_config.py", private / "nbgrader_config.py")
    config = course_config(private, **(overrides or {}))
    stage = _worker_stage(root_path, Path(work), sandbox.SandboxLimits(config=config))
    if (stage / student).exists():
        shutil.rmtree(stage / student)
    shutil.copytree(root_path / "solutions" / assignment, private / "solutions" / assignment)
    shutil.copy(snapshot, private / "gradebook.db")
    notes = prepare_submission(
        root_path / "submitted" / student / assignment,
        private / "submitted" / student / assignment,
        {path.name: path for path in source_notebooks(root_path, assignment)},
    )
    if not any((private / "submitted" / student / assignment).glob("*.ipynb")):
        return WorkerOutcome(
            student,
            str(private),
            "empty",
            notes + ["nothing gradable was handed in"],
            time.perf_counter() - started,
        )
    config.CourseDirectory.db_url = f"sqlite:///{private / 'gradebook.db'}"
    # autograded/<student>/<assignment> lands in the stage; nbgrader joins an absolute path as is
    config.CourseDirectory.autograded_directory = str(stage)
    sandbox.configure(config)
    try:
        api = nbgrader_api(config)
        result = api.autograde(assignment, student, force=True, create=True)
        ok = bool(result["success"])
        # the kernel is gone: before anything copies the folder (feedback, the main process),
        # drop what would be followed or read as root (a link to the gradebook, a pipe, a device)
        stripped = _strip_special_files(stage / student)
        if stripped:
            notes.append(
                f"removed {len(stripped)} link(s) or special file(s) the notebook left: "
                + ", ".join(stripped[:5])
            )
        if not ok:
            notes.append("autograding failed: " + _last_error(result))
        elif feedback:
            fb = api.generate_feedback(assignment, student, force=True)
            if not fb["success"]:
                notes.append("feedback could not be generated: " + _last_error(fb))
            _feedback_pages_only(private / "feedback" / student / assignment)
    finally:
        # out of the stage before the next student's kernel runs anything
        if (stage / student).exists():
            (private / "autograded").mkdir(exist_ok=True)
            os.rename(stage / student, private / "autograded" / student)
    return WorkerOutcome(
        student, str(private), "graded" if ok else "failed", notes, time.perf_counter() - started
    )


def _worker_stage(root: Path, work: Path, limits: sandbox.SandboxLimits) -> Path:
    """This worker's stage, and its kernel slots (under ``limits``), set up on its first submission."""
    slots = current_slots()
    if slots is None:
        stage = work / f"stage-{os.getpid()}"
        package_root = Path(__file__).resolve().parent.parent  # an editable install: the course repository
        hide = sandbox.secret_paths([root, package_root]) + [work]
        specs = sandbox.prepare_worker(stage, hide, limits)
        slots = KernelSlots(stage, specs)
        use_slots(slots)
        # the spare of a worker that is done (pool workers skip atexit; a killed worker's
        # kernels die with it anyway: the sandbox sets their parent-death signal), then its cgroups
        multiprocessing.util.Finalize(slots, sandbox.remove_cgroups, args=(specs,), exitpriority=9)
        multiprocessing.util.Finalize(slots, run_sync(slots.close), exitpriority=10)
    return slots.stage


def warm_worker(root: str, work: str, overrides: dict[str, dict] | None = None) -> None:
    """Get this worker ready for its next submission: nbgrader imported, sandbox set up, a fresh spare started.

    Run in a worker of a pool kept open across batches (see :class:`~autograder.executors.LocalPool`),
    so that the first learner's submission is graded as fast as the next ones, and again while the
    pool waits, so that the spare kernel never gets old enough to be replaced when a submission comes.
    """
    import nbgrader.converters  # noqa: F401 (imported now rather than during the first grading)

    _quiet_worker(Path(work))
    config = course_config(Path(root), **(overrides or {}))
    _worker_stage(Path(root), Path(work), sandbox.SandboxLimits(config=config))
    slots = current_slots()
    if slots is not None:
        run_sync(slots.warm)()


def _quiet_worker(work: Path) -> None:
    """Send this worker's output (and its kernels': they inherit it) to a log file, not over the progress bar."""
    warnings.filterwarnings("ignore", module="nbgrader")  # SQLAlchemy chatter from inside nbgrader
    log = work / f"worker-{os.getpid()}.log"
    if not log.exists():
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)


def _last_error(result: dict) -> str:
    text = (result.get("error") or "") + "\n" + (result.get("log") or "")
    lines = [line.strip() for line in text.splitlines() if "Error" in line or "error" in line]
    return lines[-1][:300] if lines else "unknown error"


# ---------------------------------------------------------------- merging into the real gradebook


def merge_outcome(root: Path, config, assignment: str, outcome: WorkerOutcome) -> StudentResult:
    """Make one student's grading permanent: folders first, then one gradebook transaction."""
    from nbgrader.api import Gradebook, MissingEntry

    private = Path(outcome.private_root)
    if outcome.status == "failed":  # our failure, not the student's: change nothing
        shutil.rmtree(private, ignore_errors=True)
        return StudentResult(
            outcome.student,
            False,
            notes=outcome.notes + ["not graded; any earlier grade is kept"],
            seconds=outcome.seconds,
        )
    for kind in ("autograded", "feedback"):
        built = private / kind / outcome.student / assignment
        final = root / kind / outcome.student / assignment
        if built.is_dir():
            staged = final.with_name(f".{final.name}.new")
            if staged.exists():
                shutil.rmtree(staged)
            staged.parent.mkdir(parents=True, exist_ok=True)
            # what the notebook left beside itself: links stay links (never followed as root),
            # pipes and devices are not copied (reading one would block or never end)
            shutil.copytree(built, staged, symlinks=True, ignore=_special_files)
            if final.exists():
                shutil.rmtree(final)
            staged.rename(final)

    db_url, course_id = config.CourseDirectory.db_url, config.CourseDirectory.course_id
    with warnings.catch_warnings(), Gradebook(db_url, course_id) as main:
        # nbgrader's add_submission makes SQLAlchemy warn about autoflush; harmless, and noise here
        warnings.simplefilter("ignore")
        main.update_or_create_student(outcome.student)
        assignment_row = main.find_assignment(assignment)
        if outcome.status == "graded":
            with Gradebook(f"sqlite:///{private / 'gradebook.db'}", course_id) as mine:
                submission = mine.find_submission(assignment, outcome.student)
                timestamp = submission.timestamp
                scores = {
                    (nb.name, g.name): (g.auto_score, g.needs_manual_grade)
                    for nb in submission.notebooks
                    for g in nb.grades
                }
                comments = {
                    (nb.name, c.name): c.auto_comment for nb in submission.notebooks for c in nb.comments
                }
                penalties = {nb.name: nb.late_submission_penalty for nb in submission.notebooks}
        else:  # nothing gradable: every automatic score is 0, manual grading stays possible
            timestamp, comments, penalties = None, {}, {}
            scores = {
                (nb.name, cell.name): (0.0, False)
                for nb in assignment_row.notebooks
                for cell in nb.grade_cells
            }
        try:
            existing = main.find_submission(assignment, outcome.student)
        except MissingEntry:
            existing = main.add_submission(assignment, outcome.student, timestamp=timestamp)
        if timestamp is not None:
            existing.timestamp = timestamp
        # every change below is flushed by the single commit at the end: all or nothing
        for nb in existing.notebooks:
            if nb.name in penalties:
                nb.late_submission_penalty = penalties[nb.name]
            for g in nb.grades:
                if (nb.name, g.name) in scores:
                    g.auto_score, g.needs_manual_grade = scores[(nb.name, g.name)]
            for c in nb.comments:
                if (nb.name, c.name) in comments:
                    c.auto_comment = comments[(nb.name, c.name)]
        main.db.commit()
        submission = main.find_submission(assignment, outcome.student)
        result = StudentResult(
            outcome.student,
            True,
            float(submission.score),
            float(submission.max_score),
            list(outcome.notes),
            outcome.seconds,
        )
    shutil.rmtree(private, ignore_errors=True)
    return result


def _feedback_pages_only(folder: Path) -> None:
    """Keep only nbgrader's feedback pages: files the notebook wrote beside itself are not feedback."""
    for current, _, files in os.walk(folder):
        for name in files:
            if not name.endswith(".html") and name not in NBGRADER_FILES:
                os.unlink(os.path.join(current, name))


def _strip_special_files(folder: Path) -> list[str]:
    """Delete every link, pipe, socket and device under ``folder``; their paths, relative to it."""
    removed = []
    for current, dirs, files in os.walk(folder):
        for name in _special_files(current, dirs + files, links=True):
            path = os.path.join(current, name)
            os.unlink(path)
            removed.append(os.path.relpath(path, folder))
        dirs[:] = [d for d in dirs if os.path.isdir(os.path.join(current, d))]
    return sorted(removed)


def _special_files(folder: str, names: list[str], links: bool = False) -> list[str]:
    """The entries of ``folder`` that are neither files nor folders (FIFOs, sockets, devices; links too if ``links``)."""
    special = []
    for name in names:
        mode = os.lstat(os.path.join(folder, name)).st_mode
        if stat.S_ISLNK(mode):
            if links:
                special.append(name)
        elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            special.append(name)
    return special


# ---------------------------------------------------------------- the batch


def ensure_assignment(root: Path, config, assignment: str) -> None:
    """Record the assignment's source cells and checksums in the gradebook (nbgrader's generate_assignment).

    The release goes to a scratch folder: the committed ``exercises/`` is ``proximal release``'s job.
    Skipped (it takes seconds) when the gradebook already has this assignment from the same sources:
    a fingerprint of the sources is kept beside the gradebook.
    """
    stamp_path = Path(config.CourseDirectory.db_url.removeprefix("sqlite:///") + ".sources.json")
    fingerprint = _sources_fingerprint(root, assignment)
    stamps = json.loads(stamp_path.read_text()) if stamp_path.is_file() else {}
    if stamps.get(assignment) == fingerprint and _registered(config, assignment):
        return
    with tempfile.TemporaryDirectory(prefix="proximal-gen-") as scratch:
        gen_config = course_config(
            root,
            CourseDirectory={
                "db_url": config.CourseDirectory.db_url,
                "release_directory": str(Path(scratch) / "release"),
            },
        )
        result = nbgrader_api(gen_config).generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise CourseError(f"nbgrader could not register {assignment}: {_last_error(result)}")
    stamps[assignment] = fingerprint
    atomic_write(stamp_path, json.dumps(stamps, indent=1, sort_keys=True))


def _sources_fingerprint(root: Path, assignment: str) -> str:
    digest = hashlib.sha256((root / "nbgrader_config.py").read_bytes())
    for path in sorted((root / "solutions" / assignment).rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _registered(config, assignment: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry

    try:
        with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gb:
            return bool(gb.find_assignment(assignment).notebooks)
    except MissingEntry:
        return False


def submitted_students(root: Path, assignment: str) -> list[str]:
    base = root / "submitted"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())


def grade(
    root: Path,
    assignment: str,
    jobs: int | None = None,
    students: list[str] | None = None,
    csv_path: Path | None = None,
    feedback: bool = True,
    progress: bool = True,
    scheduler: str | None = None,
    overrides: dict[str, dict] | None = None,
    pool: LocalPool | None = None,
) -> BatchReport:
    """Autograde every submission of ``assignment`` (or only ``students``), then export the CSV.

    ``jobs``: submissions graded at once on this machine (None: ``GradeBatch.jobs``, else the cores).
    ``scheduler``: a Dask scheduler's address, whose workers grade the batch ("" : this machine;
    None: ``GradeBatch.scheduler`` in nbgrader_config.py decides, see :mod:`autograder.executors`).
    ``overrides``: settings on top of ``nbgrader_config.py`` by section, as on nbgrader's command
    line (``{"SandboxLimits": {"resident_bytes": 2**30}}``); every worker grades with them.
    ``pool``: a :class:`~autograder.executors.LocalPool` kept open across batches (with its own
    ``work`` folder), as a grading service does: its workers' sandboxes and spare kernels stay
    warm. ``jobs``, ``scheduler`` and any limits in ``overrides`` are then the pool's own.
    """
    overrides = overrides or {}
    started = time.perf_counter()
    root = root.resolve()
    if not (root / "solutions" / assignment).is_dir():
        raise CourseError(f"No assignment '{assignment}' in {root / 'solutions'}.")
    config = course_config(root, **overrides)
    if not config.CourseDirectory.get("db_url"):
        config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    ensure_assignment(root, config, assignment)
    names = students or submitted_students(root, assignment)
    missing = [s for s in names if not (root / "submitted" / s / assignment).is_dir()]
    if missing:
        raise CourseError(
            f"No submission folder for {', '.join(missing)} under submitted/<student>/{assignment}/."
        )
    from autograder.executors import GradeBatch

    jobs = max(1, min(jobs or GradeBatch(config=config).jobs or os.cpu_count() or 1, len(names) or 1))

    results: list[StudentResult] = []
    with contextlib.ExitStack() as stack:
        if pool is None:
            work = stack.enter_context(tempfile.TemporaryDirectory(prefix="proximal-grade-"))
        elif pool.work is None:
            raise ValueError(
                "a pool kept open across batches needs its own work folder (LocalPool(work=...))"
            )
        else:
            work = str(pool.work)
        snapshot = Path(work) / "gradebook-snapshot.db"
        _snapshot_db(config.CourseDirectory.db_url, snapshot)
        active: LocalPool | DaskPool
        if pool is None:
            # this machine's process pool, or a Dask cluster's workers (autograder.executors)
            from autograder.executors import open_pool

            active = open_pool(config, root, assignment, snapshot, jobs, scheduler)
            stack.enter_context(active)
        else:
            active = pool
        bar = _progress(len(names), f"Grading {assignment}", progress)
        pending = {
            active.submit(str(root), assignment, s, str(snapshot), work, feedback, overrides): s
            for s in names
        }
        for done in active.as_completed(pending):
            student = pending[done]
            try:
                outcome = done.result()
            except Exception as exc:  # our own failure, not the student's: keep any earlier grade
                results.append(
                    StudentResult(
                        student, False, notes=[f"not graded (grader error: {exc!r}); earlier grade kept"]
                    )
                )
            else:
                try:
                    results.append(merge_outcome(root, config, assignment, outcome))
                except Exception as exc:  # e.g. a file the notebook left that cannot be copied
                    results.append(
                        StudentResult(
                            student,
                            False,
                            notes=outcome.notes
                            + [f"not graded (could not record the result: {exc!r}); earlier grade kept"],
                        )
                    )
            bar.update(1)
        bar.close()
        protections, workers = active.protections, active.workers

    csv_path = csv_path or root / "grades.csv"
    export_csv(config, csv_path)
    results.sort(key=lambda r: r.student)
    return BatchReport(
        assignment, results, csv_path, time.perf_counter() - started, protections, workers=workers
    )


def _snapshot_db(db_url: str, dest: Path) -> None:
    """A consistent copy of the gradebook for the workers (sqlite's online backup)."""
    source = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    try:
        target = sqlite3.connect(dest)
        with target:
            source.backup(target)
        target.close()
    finally:
        source.close()


def export_csv(config, csv_path: Path) -> None:
    """nbgrader's own CSV export of the whole gradebook, written atomically."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    tmp = csv_path.with_name(f".{csv_path.name}.tmp")
    with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gb:
        CsvExportPlugin(to=str(tmp)).export(gb)
    os.replace(tmp, csv_path)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="submission")


def render_report(report: BatchReport) -> str:
    width = max([len(r.student) for r in report.results] + [7])
    lines = [f"Graded {report.assignment}: {len(report.results)} submission(s) in {report.seconds:.1f} s", ""]
    lines.append(f"{'student'.ljust(width)}  score     time    notes")
    for r in report.results:
        score = f"{r.score:g}/{r.max_score:g}" if r.graded or r.max_score else "-"
        took = f"{r.seconds:.1f} s"
        lines.append(
            f"{r.student.ljust(width)}  {score.ljust(8)}  {took.ljust(6)}  {'; '.join(r.notes) or 'ok'}"
        )
    lines.append("")
    lines.append(f"Grades: {report.csv_path}")
    if report.protections:
        lines.append("Sandbox: " + "; ".join(report.protections))
    lines += [f"Worker {line}" for line in report.workers]
    return "\n".join(lines)
