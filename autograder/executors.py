"""Where a batch's submissions are graded: this machine's process pool, or a Dask cluster.

The engine is the same either way: :func:`autograder.grade.grade_one` grades one student in a
private scratch course, and the main process records the result in the real gradebook with
:func:`autograder.grade.merge_outcome`, one transaction per student.

On a cluster no shared file system is assumed. Each submission is one task of
:func:`grade_packed`, which travels as bytes: the assignment's *course* (``nbgrader_config.py``,
``solutions/<assignment>/`` and the gradebook snapshot) once per worker, and the student's
submission folder per task. The worker unpacks them into a folder of its own, runs
``grade_one`` there (in a grading process of its own, as locally: the sandbox's kernel slots and
spare kernel work unchanged) and sends back the scratch course's gradebook, ``autograded/`` and
``feedback/`` as a tar. The main process unpacks that into its work folder, and from there on
nothing differs from a local batch.

Faults: a task whose worker dies is run again by Dask on another worker (and an error raised in
a task is retried ``GradeBatch.retries`` times); a student's result is recorded only when its
task's result arrives, so nobody is recorded twice. A batch whose scheduler or grader dies
leaves every recorded student as recorded; running it again regrades the batch.
"""

from __future__ import annotations

import builtins
import concurrent.futures as futures
import io
import json
import multiprocessing
import os
import shutil
import tarfile
import tempfile
import threading
import time
import types
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from traitlets import Float, Integer, Unicode
from traitlets.config import Configurable

from autograder import sandbox
from autograder.grade import NBGRADER_FILES, WorkerOutcome, grade_one, warm_worker
from autograder.nbgrader_env import course_config
from autograder.notebooks import CourseError, source_notebooks


class GradeBatch(Configurable):
    """How ``proximal grade`` spreads a batch over processes or machines."""

    jobs = Integer(
        0,
        help="Submissions graded at once on this machine (0: one per core). `proximal grade --jobs` overrides it.",
    ).tag(config=True)
    scheduler = Unicode(
        "",
        help=(
            "Address of a Dask scheduler (e.g. tcp://10.0.0.5:8786) whose workers grade the batch; "
            "empty: grade on this machine with a process pool. `proximal grade --scheduler` overrides it."
        ),
    ).tag(config=True)
    retries = Integer(
        2,
        help="How often a submission whose grading task raised an error is tried again on the cluster "
        "(a task whose worker dies is rescheduled by Dask regardless).",
    ).tag(config=True)
    connect_timeout = Float(30.0, help="Seconds to wait for the Dask scheduler to answer.").tag(config=True)


# ---------------------------------------------------------------- bytes in, bytes out

# what a worker's scratch course sends back: the rest (sources, submission) it was sent
RESULT_PARTS = ("gradebook.db", "autograded", "feedback")


def pack(folder: Path, names: Iterable[str], placeholders: Iterable[str] = ()) -> bytes:
    """A gzipped tar of ``folder``'s entries ``names`` (regular files and folders only, recursively).

    Links, pipes and devices are left out: nothing is followed. ``placeholders`` are entries sent
    empty (an extra file a submission holds: only its name matters to the grader).
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        for name in names:
            path = folder / name
            if path.is_file() or path.is_dir():
                tar.add(path, arcname=name, filter=_plain_only)
        for name in placeholders:
            info = tarfile.TarInfo(name)
            if (folder / name).is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info, io.BytesIO(b""))
    return buffer.getvalue()


def _plain_only(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if not (info.isfile() or info.isdir()):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def unpack(data: bytes, dest: Path) -> None:
    """Extract a tar made by :func:`pack` into ``dest``; no member lands outside it (tarfile's data filter)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        tar.extractall(dest, filter="data")


def pack_course(root: Path, assignment: str, snapshot: Path) -> bytes:
    """What every task of a batch needs: the nbgrader config, the assignment's sources, the gradebook snapshot."""
    with tempfile.TemporaryDirectory(prefix="proximal-pack-") as scratch:
        course = Path(scratch)
        shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
        shutil.copytree(root / "solutions" / assignment, course / "solutions" / assignment)
        shutil.copy(snapshot, course / "gradebook.db")
        return pack(course, ["nbgrader_config.py", "solutions", "gradebook.db"])


def pack_submission(root: Path, assignment: str, student: str) -> bytes:
    """A student's submission folder: the notebooks the grader reads in full, any other entry by name only."""
    folder = root / "submitted" / student / assignment
    graded = {path.name for path in source_notebooks(root, assignment)} | set(NBGRADER_FILES)
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    return pack(
        folder, [n for n in present if n in graded], placeholders=[n for n in present if n not in graded]
    )


# ---------------------------------------------------------------- the worker's side


_pool: futures.ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()
_base: Path | None = None


def grade_packed(
    course: bytes,
    assignment: str,
    student: str,
    submission: bytes,
    feedback: bool,
    overrides: dict[str, dict] | None = None,
) -> bytes:
    """Grade one packed submission on this (Dask) worker; the packed result (a Dask task).

    ``course`` comes from :func:`pack_course`, ``submission`` from :func:`pack_submission`. The
    result is a tar of ``outcome.json`` (status, notes, this worker's protections) and the scratch
    course's gradebook, ``autograded/`` and ``feedback/``.
    """
    work = _worker_folder()
    task_root = work / f".task-{uuid.uuid4().hex}"
    try:
        unpack(course, task_root)
        unpack(submission, task_root / "submitted" / student / assignment)
        pool = _grading_pool()
        job = pool.submit(
            grade_one,
            str(task_root),
            assignment,
            student,
            str(task_root / "gradebook.db"),
            str(work),
            feedback,
            overrides,
        )
        try:
            outcome = job.result()
        except futures.process.BrokenProcessPool:
            _drop_pool(pool)
            raise RuntimeError(
                f"the grading process on this worker died while grading {student}; it is started afresh"
            ) from None
        private = Path(outcome.private_root)
        from distributed import get_worker

        header = {
            "status": outcome.status,
            "notes": outcome.notes,
            "worker": get_worker().address,
            "protections": sandbox.protections(
                sandbox.SandboxLimits(config=course_config(task_root, **(overrides or {})))
            ),
        }
        (private / "outcome.json").write_text(json.dumps(header))
        result = pack(private, ["outcome.json", *RESULT_PARTS])
        shutil.rmtree(private, ignore_errors=True)
        return result
    finally:
        shutil.rmtree(task_root, ignore_errors=True)


def _worker_folder() -> Path:
    """This worker process's own grading folder, made on its first task in the worker's local directory.

    Dask removes that directory when the worker stops (and a killed worker's at the next start).
    """
    global _base
    with _pool_lock:
        if _base is None:
            from distributed import get_worker

            local = Path(get_worker().local_directory)
            _base = Path(tempfile.mkdtemp(prefix="proximal-", dir=local))
            # kernels run as another user: they must pass through to the stage (work/ is hidden from them)
            for folder in (local, _base):
                os.chmod(folder, os.stat(folder).st_mode | 0o111)
            (_base / "work").mkdir()
        return _base / "work"


def _grading_pool() -> futures.ProcessPoolExecutor:
    """This worker's grading processes (one per Dask thread), started on its first task."""
    global _pool
    with _pool_lock:
        if _pool is None:
            from distributed import get_worker

            # A nanny starts its worker as a daemonic process, and those may not start children;
            # the grading processes watch this one instead (see _watch_parent) and end with it.
            if multiprocessing.current_process().daemon:
                multiprocessing.current_process().daemon = False
            _pool = futures.ProcessPoolExecutor(
                max_workers=max(1, get_worker().state.nthreads),
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_grading_process,
                initargs=(sandbox.probe(), os.getpid()),
            )
        return _pool


def _drop_pool(pool: futures.ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def _start_grading_process(answers: dict, parent: int) -> None:
    """A grading process's initializer: the sandbox probes' answers, and an end when its worker is killed."""
    sandbox.adopt(answers)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    """End this process once its Dask worker is gone (its kernels die with it: the sandbox sets their parent-death signal)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _worker_report(limits: dict) -> dict:
    """What a worker can do: which course packages it lacks, and its sandbox's protections under ``limits``.

    Sent to workers by value (see :func:`_portable`): it must run where ``autograder`` is missing.
    """
    import importlib.util  # noqa: PLC0415 (runs on the worker, by value)

    missing = [
        name
        for name in ("autograder", "proximal", "nbgrader", "ipykernel")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        return {"missing": missing, "protections": []}
    from autograder import sandbox as worker_sandbox  # noqa: PLC0415

    worker_sandbox.probe()
    return {"missing": [], "protections": worker_sandbox.protections(worker_sandbox.SandboxLimits(**limits))}


def _portable(function: Callable[..., Any]) -> types.FunctionType:
    """A copy of ``function`` that cloudpickle sends by value (its module is not importable by that name)."""
    return types.FunctionType(
        function.__code__, {"__builtins__": builtins, "__name__": "proximal_worker_probe"}, function.__name__
    )


# ---------------------------------------------------------------- the main process's side


class LocalPool:
    """This machine's grading processes (``jobs`` of them): the default.

    ``work``: a folder for the workers' scratch courses and stages that outlives one batch. A pool
    given one can be kept open and passed to several :func:`~autograder.grade.grade` calls (a
    grading service does): each worker then sets up its sandbox once and keeps a spare kernel
    started for the next submission. The caller removes the folder after closing the pool.
    """

    def __init__(self, jobs: int, limits: sandbox.SandboxLimits, work: Path | None = None) -> None:
        self.jobs = jobs
        self.work = work
        # spawn: workers must not inherit the main process's open gradebook connections
        self.pool = futures.ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=sandbox.adopt,
            initargs=(sandbox.probe(),),
        )
        self.workers: list[str] = []
        self.protections = sandbox.protections(limits)

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown()

    def submit(self, *args) -> futures.Future:
        """``grade_one(*args)`` in a grading process."""
        return self.pool.submit(grade_one, *args)

    def warm_up(self, root: Path, overrides: dict[str, dict] | None = None) -> None:
        """Get the grading processes ready (sandbox set up, spare kernel started) before the first submission.

        One warm-up per process is handed to the pool; a process that got none warms on its first
        submission. Called again while the pool waits, it replaces spare kernels that are getting old.
        """
        if self.work is None:
            raise ValueError("only a pool with its own work folder keeps its workers warm")
        ready = [
            self.pool.submit(warm_worker, str(root), str(self.work), overrides) for _ in range(self.jobs)
        ]
        for done in futures.as_completed(ready):
            done.result()

    @staticmethod
    def as_completed(pending: Iterable) -> Iterator:
        return futures.as_completed(pending)


class DaskPool:
    """The workers of a Dask cluster, given by its scheduler's address."""

    def __init__(
        self,
        scheduler: str,
        root: Path,
        assignment: str,
        snapshot: Path,
        settings: GradeBatch,
        limits: sandbox.SandboxLimits,
    ) -> None:
        from distributed import Client

        try:
            self.client = Client(scheduler, timeout=settings.connect_timeout, set_as_default=False)
        except OSError as exc:
            raise CourseError(f"No Dask scheduler answered at {scheduler}: {exc}") from None
        self.retries = settings.retries
        self.workers = self._check_workers(
            {name: getattr(limits, name) for name in limits.trait_names(config=True)}
        )
        # a task, not scattered data: the scheduler keeps it and can make it again if its workers die
        self.course = self.client.submit(bytes, pack_course(root, assignment, snapshot), pure=False)

    def _check_workers(self, limits: dict) -> list[str]:
        """One line per worker that cannot grade, or grades with less protection than it should."""
        reports = self.client.run(_portable(_worker_report), limits)
        if not reports:
            raise CourseError("The Dask cluster has no workers.")
        good = [r["protections"] for _, r in sorted(reports.items()) if not r["missing"]]
        self.protections = good[0] if good else []
        # tasks go to these while any is up (a loose restriction: workers that join later take over)
        self.able = sorted(address for address, r in reports.items() if not r["missing"])
        lines = []
        for address, report in sorted(reports.items()):
            if report["missing"]:
                lines.append(
                    f"{address}: MISSING {', '.join(report['missing'])}: install the course package "
                    "(pip install -e . of the course) on this worker; its tasks fail and are retried elsewhere"
                )
            elif any("MISSING" in line for line in report["protections"]):
                lines.append(
                    f"{address}: " + "; ".join(line for line in report["protections"] if "MISSING" in line)
                )
        if all(r["missing"] for r in reports.values()):
            raise CourseError("No worker of the Dask cluster can grade:\n" + "\n".join(lines))
        return lines

    def note_worker(self, address: str, protections: list[str]) -> None:
        """Add a worker that joined after the batch began and grades with less protection."""
        missing = [line for line in protections if "MISSING" in line]
        if missing and not any(line.startswith(f"{address}: ") for line in self.workers):
            self.workers.append(f"{address}: " + "; ".join(missing))

    def __enter__(self) -> DaskPool:
        return self

    def __exit__(self, *exc) -> None:
        self.client.close()

    def submit(
        self,
        root: str,
        assignment: str,
        student: str,
        snapshot: str,
        work: str,
        feedback: bool,
        overrides: dict[str, dict] | None = None,
    ):
        """``grade_one``'s arguments, as for :class:`LocalPool`: the submission is packed and sent as one task."""
        task = self.client.submit(
            grade_packed,
            self.course,
            assignment,
            student,
            pack_submission(Path(root), assignment, student),
            feedback,
            overrides,
            key=f"grade-{assignment}-{student}-{uuid.uuid4().hex[:8]}",
            retries=self.retries,
            pure=False,
            workers=self.able,
            allow_other_workers=True,
        )
        return _PackedResult(task, student, Path(work), self)

    def as_completed(self, pending: Iterable) -> Iterator:
        from distributed import as_completed

        by_task = {result.task: result for result in pending}
        for task in as_completed(list(by_task), loop=self.client.loop):
            yield by_task[task]


class _PackedResult:
    """A cluster task's result, unpacked into the main process's work folder on ``result()``."""

    def __init__(self, task, student: str, work: Path, pool: DaskPool) -> None:
        self.task, self.student, self.work, self.pool = task, student, work, pool

    def __hash__(self) -> int:
        return hash(self.task.key)

    def result(self) -> WorkerOutcome:
        try:
            data = self.task.result()
        except futures.CancelledError:  # Dask's words for it name no student: say what happened
            raise RuntimeError("the cluster lost this task (was the scheduler stopped?)") from None
        private = self.work / self.student
        if private.exists():
            shutil.rmtree(private)
        unpack(data, private)
        header = json.loads((private / "outcome.json").read_text())
        self.pool.note_worker(header["worker"], header["protections"])
        return WorkerOutcome(self.student, str(private), header["status"], header["notes"])


def open_pool(
    config, root: Path, assignment: str, snapshot: Path, jobs: int, scheduler: str | None
) -> LocalPool | DaskPool:
    """The pool a batch grades with: ``scheduler`` (or ``GradeBatch.scheduler``) set means the Dask cluster there."""
    settings = GradeBatch(config=config)
    address = settings.scheduler if scheduler is None else scheduler
    if not address:
        return LocalPool(jobs, sandbox.SandboxLimits(config=config))
    return DaskPool(address, root, assignment, snapshot, settings, sandbox.SandboxLimits(config=config))
