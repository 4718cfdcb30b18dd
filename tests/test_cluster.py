"""`proximal grade --scheduler`: a batch graded on a real Dask cluster (a scheduler and two workers, as processes)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from conftest import DEMO_CORRECT as CORRECT
from conftest import submit_demo as submit

from autograder.grade import grade

pytest.importorskip("distributed")

DASK = str(Path(sys.executable).with_name("dask"))
WRONG = {
    "double": "def double(x):\n    return x + 2\n",
    "add_all": "def add_all(xs):\n    return 0\n",
    "fib": "def fib(n):\n    return n\n",
}
# a submission whose answer kills its own kernel: only this student's later cells score 0
CRASH = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
# slow enough (two cells of 4 s, under the demo course's 5 s cell limit) for a kill to land mid-task
SLOW = {
    "double": "import time\ntime.sleep(4)\n" + CORRECT["double"],
    "add_all": "import time\ntime.sleep(4)\n" + CORRECT["add_all"],
    "fib": CORRECT["fib"],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A `dask scheduler` and `dask worker` processes on 127.0.0.1, each in its own process group."""

    def __init__(self, log: Path) -> None:
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.log = log
        self.processes: list[subprocess.Popen] = []

    def start(self, workers: int) -> None:
        port = self.address.rsplit(":", 1)[1]
        self._spawn([DASK, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], "scheduler")
        for i in range(workers):
            self._spawn(
                [DASK, "worker", self.address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                f"worker-{i}",
            )
        with self.client() as client:
            client.wait_for_workers(workers, timeout=120)

    def _spawn(self, command: list[str], name: str) -> None:
        out = open(self.log / f"{name}.log", "wb")  # noqa: SIM115 (kept open for the process's lifetime)
        self.processes.append(
            subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        )
        out.close()

    def client(self):
        from distributed import Client

        return Client(self.address, timeout=60, set_as_default=False)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(tmp_path_factory.mktemp("dask-logs"))
    try:
        running.start(workers=2)
        yield running
    finally:
        running.stop()


def gradebook(course: Path) -> dict:
    """Every graded cell of 00-demo: (student, notebook, cell) -> (auto score, auto comment)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        cells = {}
        for sub in gb.find_assignment("00-demo").submissions:
            for nb in sub.notebooks:
                for g in nb.grades:
                    cells[(sub.student.id, nb.name, g.name)] = (g.auto_score, None)
                for c in nb.comments:
                    cells[(sub.student.id, nb.name, "comment:" + c.name)] = (None, c.auto_comment)
        return cells


def submissions_per_student(course: Path) -> dict[str, int]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        counts: dict[str, int] = {}
        for sub in gb.find_assignment("00-demo").submissions:
            counts[sub.student.id] = counts.get(sub.student.id, 0) + 1
        return counts


def _recorded(course: Path) -> int:
    """How many submissions the gradebook holds now (read while a grader may be writing it)."""
    try:
        with closing(sqlite3.connect(f"file:{course / 'gradebook.db'}?mode=ro", uri=True, timeout=5)) as db:
            return db.execute("SELECT count(*) FROM submitted_assignment").fetchone()[0]
    except sqlite3.Error:  # not created yet, or locked for longer than the timeout
        return 0


def totals(course: Path) -> dict[str, float]:
    scores: dict[str, float] = {}
    for (student, _, _), (score, _) in gradebook(course).items():
        scores[student] = scores.get(student, 0.0) + (score or 0.0)
    return scores


def test_cluster_gives_the_local_gradebook_cell_by_cell(cluster, demo_release, tmp_path, variant):
    """Graded on the cluster, does a batch (right, wrong, kernel-killing, bad and empty submissions) get the local gradebook and reasons?"""
    handed_in = {
        "ada": CORRECT,
        "bo": {**CORRECT, "add_all": WRONG["add_all"]},
        "cy": {**CORRECT, "add_all": CRASH},
        "di": {"double": CORRECT["double"]},
    }
    courses = {}
    for way in ("local", "cluster"):
        course = tmp_path / way
        shutil.copytree(demo_release, course)
        for student, answers in handed_in.items():
            submit(course, student, variant, answers=answers)
        (course / "submitted" / "ed" / "00-demo").mkdir(parents=True)
        (course / "submitted" / "bad" / "00-demo").mkdir(parents=True)
        (course / "submitted" / "bad" / "00-demo" / "demo-exercises.ipynb").write_text("{not json")
        (course / "submitted" / "bad" / "00-demo" / "notes.txt").write_text("an extra file")
        courses[way] = course
    local = grade(courses["local"], "00-demo", jobs=2, progress=False, scheduler="")
    remote = grade(courses["cluster"], "00-demo", progress=False, scheduler=cluster.address)

    assert gradebook(courses["cluster"]) == gradebook(courses["local"])
    assert totals(courses["local"]) == {"ada": 6, "bo": 4, "cy": 1, "di": 1, "ed": 0, "bad": 0}
    assert [(r.student, r.graded, r.notes) for r in remote.results] == [
        (r.student, r.graded, r.notes) for r in local.results
    ]
    assert any("notes.txt" in note for note in next(r for r in remote.results if r.student == "bad").notes)
    for student in ("ada", "bo", "cy"):
        assert (courses["cluster"] / "feedback" / student / "00-demo" / "demo-exercises.html").is_file()
        assert (courses["cluster"] / "autograded" / student / "00-demo" / "demo-exercises.ipynb").is_file()
    rows = {way: sorted((course / "grades.csv").read_text().splitlines()) for way, course in courses.items()}
    assert rows["cluster"] == rows["local"], (
        "the CSV should hold the same rows (in the order they were graded)"
    )
    assert remote.protections == local.protections, "the workers' sandbox should be the one used locally"
    assert remote.workers == [], f"both workers have the course and the sandbox: {remote.workers}"


def test_a_worker_killed_mid_task_costs_nothing(cluster, demo_course, variant):
    """When the worker grading a submission is killed with SIGKILL mid-task, is that student still graded, exactly once?"""
    handed_in = {"slow": SLOW, "ada": CORRECT, "bo": {**CORRECT, "fib": WRONG["fib"]}, "cy": {}}
    for student, answers in handed_in.items():
        submit(demo_course, student, variant, answers=answers)

    outcome: dict = {}

    def run() -> None:
        try:
            outcome["report"] = grade(demo_course, "00-demo", progress=False, scheduler=cluster.address)
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    batch = threading.Thread(target=run)
    batch.start()
    killed = None
    with cluster.client() as client:
        deadline = time.monotonic() + 120
        while killed is None and time.monotonic() < deadline and batch.is_alive():
            for address, keys in client.processing().items():
                if any(str(key).startswith("grade-00-demo-slow-") for key in keys):
                    killed = client.run(os.getpid, workers=[address])[address]
                    break
            else:
                time.sleep(0.1)
        assert killed is not None, "the slow submission was never seen processing on a worker"
        time.sleep(1.5)  # the slow submission's kernel is in its first 4 s cell now
        still_processing = [
            key for keys in client.processing().values() for key in keys if "slow" in str(key)
        ]
        os.kill(killed, signal.SIGKILL)
    batch.join(timeout=240)
    assert not batch.is_alive(), "the batch did not finish after a worker was killed"
    assert "error" not in outcome, outcome.get("error")
    assert still_processing, "the kill should land while the slow submission is being graded"
    report = outcome["report"]
    assert [r.graded for r in report.results] == [True] * 4, [r.notes for r in report.results]
    assert totals(demo_course) == {"slow": 6, "ada": 6, "bo": 3, "cy": 0}
    assert submissions_per_student(demo_course) == {"slow": 1, "ada": 1, "bo": 1, "cy": 1}
    assert len(gradebook(demo_course)) == 4 * 6  # 3 graded cells and 3 comments each, once
    with cluster.client() as client:  # the nanny brings the killed worker back for the next test
        client.wait_for_workers(2, timeout=120)


def test_a_killed_grader_run_again_finishes_the_batch(cluster, demo_release, tmp_path, variant):
    """Killed mid-batch and run again on the cluster, does the grader end with every student graded once, as a clean local run grades them?"""
    handed_in = {
        f"s{i}": {**CORRECT, **({wrong: WRONG[wrong]} if wrong else {})}
        for i, wrong in enumerate(["double", None, "fib", "add_all", None])
    }
    handed_in["s5"] = SLOW
    courses = {}
    for way in ("interrupted", "clean"):
        course = tmp_path / way
        shutil.copytree(demo_release, course)
        for student, answers in handed_in.items():
            submit(course, student, variant, answers=answers)
        courses[way] = course
    interrupted = courses["interrupted"]
    command = [sys.executable, "-m", "proximal", "grade", "00-demo", "--course-dir", str(interrupted)]
    process = subprocess.Popen(
        [*command, "--scheduler", cluster.address],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            if _recorded(interrupted) >= 2:
                break
            time.sleep(0.1)
        assert process.poll() is None, "the batch finished before it could be interrupted"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    recorded = len(submissions_per_student(interrupted))
    assert 2 <= recorded < 6, f"the kill should land mid-batch ({recorded} of 6 recorded)"

    report = grade(interrupted, "00-demo", progress=False, scheduler=cluster.address)
    grade(courses["clean"], "00-demo", jobs=2, progress=False, scheduler="")
    assert [r.graded for r in report.results] == [True] * 6
    assert gradebook(interrupted) == gradebook(courses["clean"])
    assert submissions_per_student(interrupted) == {f"s{i}": 1 for i in range(6)}
