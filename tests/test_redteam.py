"""Red team: hostile submissions, graded in one batch, each must get exactly what it earned.

The demo course has 6 points: double (1), add_all (2), fib (3). Every hostile student below is
graded together with an honest one, and each test asserts one student's exact outcome.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest
from conftest import DEMO_CORRECT as CORRECT
from conftest import DEMO_NB as NB
from conftest import ROOT, write_variant

from autograder import sandbox
from autograder.grade import grade

ALWAYS_EQUAL = "class AlwaysEqual:\n    def __eq__(self, other):\n        return True\n    def __ne__(self, other):\n        return False\n"
STRAY_SLEEP = "987654"  # a sleep duration no other process on the machine uses
NAMESPACES = sandbox.namespaces_available()
needs_namespaces = pytest.mark.skipif(
    not NAMESPACES, reason="this machine cannot create the sandbox's namespaces"
)
SEPARATE_USER = sandbox.separate_user_available()


def _set_metadata(path: Path, change) -> None:
    nb = nbformat.read(path, as_version=4)
    change(nb)
    nbformat.write(nb, path)


def _add_bonus_cell(nb) -> None:
    cell = nbformat.v4.new_code_cell("pass")
    cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "points": 50,
        "grade_id": "bonus",
        "schema_version": 3,
    }
    nb.cells.append(cell)


def _points(nb, value) -> None:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.metadata["nbgrader"]["points"] = value


def _schema(nb) -> None:
    for cell in nb.cells:
        if "nbgrader" in cell.metadata:
            cell.metadata["nbgrader"]["schema_version"] = 99


def _duplicate_ids(nb) -> None:
    for cell in nb.cells:
        cell["id"] = "same"


@pytest.fixture(scope="module")
def host_server():
    """A TCP server on the host's loopback: a sandboxed notebook must not reach it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.sendall(b"host secret")
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


@pytest.fixture(scope="module")
def batch(demo_release, tmp_path_factory, host_server):
    """Grade every hostile submission in one batch; return (course, report, results by student)."""
    import shutil

    course = tmp_path_factory.mktemp("redteam") / "course"
    shutil.copytree(demo_release, course)
    release = course / "exercises" / "00-demo" / NB
    folder = course / "submitted"

    def submit(student, answers=None, **kw):
        return write_variant(
            release, folder / student / "00-demo" / NB, answers={**CORRECT, **(answers or {})}, **kw
        )

    submit("honest")
    submit("edited_test", {"double": "def double(x):\n    return 0\n"}, edit={"double_tests": "pass"})
    submit("emptied_test", {"add_all": "def add_all(xs):\n    return 0\n"}, edit={"add_all_tests": ""})
    submit("deleted_test", {"fib": "def fib(n):\n    return 0\n"}, drop=("fib_tests",))
    _set_metadata(
        submit("points_tampered", {"fib": "def fib(n):\n    return 0\n"}), lambda nb: _points(nb, 100)
    )
    _set_metadata(submit("unknown_id"), _add_bonus_cell)
    _set_metadata(submit("schema_too_new"), _schema)
    _set_metadata(submit("duplicate_ids"), _duplicate_ids)
    submit(
        "always_equal",
        {
            "double": ALWAYS_EQUAL + "def double(x):\n    return AlwaysEqual()\n",
            "add_all": ALWAYS_EQUAL + "def add_all(xs):\n    return AlwaysEqual()\n",
        },
    )
    submit(
        "patched_builtins",
        {
            "double": "import builtins\n_all = all\n"
            "builtins.all = lambda items: True if type(items).__name__ == 'generator' else _all(items)\n"
            "def double(x):\n    return 4 if x == 2 else 0\n"
        },
    )
    submit(
        "patched_library",
        {
            "add_all": "import math\nmath.isclose = lambda *a, **k: True\n"
            "def add_all(xs):\n    return 0 if xs == [] else sum(xs) + 1\n"
        },
    )
    submit(
        "hidden_errors",
        {
            "double": "get_ipython().set_custom_exc((AssertionError,), lambda *a, **k: None)\n"
            "def double(x):\n    return 0\n"
        },
    )
    submit(
        "env_probe",
        {
            "double": "import os\n_leak = [k for k in os.environ if 'NBGRADER' in k or 'PROXIMAL' in k]\n"
            "def double(x):\n    return 0 if _leak else x * 2\n"
        },
    )
    submit("sys_exit", {"double": "import sys\nsys.exit()\n"})
    submit("os_exit", {"add_all": "import os\nos._exit(1)\n"})
    submit("segfault", {"fib": "import ctypes\nctypes.string_at(0)\n"})
    submit("flood_line", {"double": "print('x' * 30_000_000)\n" + CORRECT["double"]})
    submit(
        "flood_image",
        {
            "double": "from IPython.display import display\n"
            "display({'image/png': 'iVBORw0KGgo' + 'A' * 20_000_000}, raw=True)\n" + CORRECT["double"]
        },
    )
    shadow = submit("shadow_numpy")
    (shadow.parent / "numpy.py").write_text("raise ImportError('a shadowed numpy was imported')\n")
    submit("memory_hog", {"double": "_hog = bytearray(16 * 1024 ** 3)\n" + CORRECT["double"]})
    submit(
        "processes",
        {
            "double": (
                "import subprocess\n_started = 0\n"
                "for _ in range(600):\n"
                "    try:\n"
                f"        subprocess.Popen(['sleep', '{STRAY_SLEEP}'], start_new_session=True)\n"
                "        _started += 1\n"
                "    except OSError:\n"
                "        break\n"
                "print('started', _started)\n"
            )
            + CORRECT["double"]
        },
    )
    probe = (
        "import os, socket, urllib.request, threading, http.server\n"
        "def _visible(path):\n"
        "    try:\n"
        "        return bool(os.listdir(path)) if os.path.isdir(path) else os.path.getsize(path) > 0\n"
        "    except OSError:\n"
        "        return False\n"
        f"for _name, _path in {{'course solutions': {str(course / 'solutions')!r}, 'repo solutions': {str(ROOT / 'solutions')!r},\n"
        f"                    'gradebook': {str(course / 'gradebook.db')!r}, 'submissions': {str(folder)!r},\n"
        # the notebook runs in <scratch>/stage-<pid>/snoop/00-demo; beside the stage lie every
        # student's scratch course (with the gradebook copy and the sources) and the snapshot
        "                    'grader scratch': os.path.abspath('../../../snoop/gradebook.db'),\n"
        "                    'gradebook snapshot': os.path.abspath('../../../gradebook-snapshot.db'),\n"
        "                    'other students': os.path.abspath('../../../honest')}.items():\n"
        "    print('PROBE', _name, 'VISIBLE' if _visible(_path) else 'hidden')\n"
        # in the stage: this notebook's folder, and the kernel slots' private folders of which
        # only its own may open (the other is the spare that will run the next submission)
        "_stage = os.listdir('../..')\n"
        "_strangers = [n for n in _stage if n != 'snoop' and not n.startswith('.kernel-')]\n"
        "print('PROBE other notebooks in the stage', f'VISIBLE {_strangers}' if _strangers else 'hidden')\n"
        "_slots = [n for n in _stage if n.startswith('.kernel-') and _visible(os.path.join('../..', n))]\n"
        "print('PROBE another kernel slot', f'VISIBLE {_slots}' if len(_slots) > 1 else 'hidden')\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {host_server}), timeout=2).recv(20)\n"
        "    print('PROBE host network VISIBLE')\n"
        "except OSError:\n"
        "    print('PROBE host network hidden')\n"
        "_srv = http.server.HTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)\n"
        "threading.Thread(target=_srv.handle_request, daemon=True).start()\n"
        "_ok = urllib.request.urlopen(f'http://127.0.0.1:{_srv.server_address[1]}/', timeout=5).status == 200\n"
        "print('PROBE own loopback', 'works' if _ok else 'BROKEN')\n"
    )
    submit("snoop", {"double": probe + CORRECT["double"]})
    # files left beside the notebook for the grader, which copies the folder as root
    submit(
        "leftovers",
        {
            "double": (
                "import os\n"
                "os.mkfifo('pipe')\n"
                "os.symlink('/dev/zero', 'zeros')\n"
                f"os.symlink({str(course / 'gradebook.db')!r}, 'grades.db')\n"
            )
            + CORRECT["double"]
        },
    )

    report = grade(course, "00-demo", jobs=2, progress=False)
    return course, report, {r.student: r for r in report.results}


def score(batch, student: str) -> float:
    return batch[2][student].score


def outputs(batch, student: str) -> str:
    nb = nbformat.read(batch[0] / "autograded" / student / "00-demo" / NB, as_version=4)
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")) + str(output.get("evalue", "")))
    return "\n".join(texts)


def test_honest_submission_gets_full_marks(batch):
    """Is an honest, correct submission graded 6/6 alongside all the hostile ones?"""
    assert (score(batch, "honest"), batch[2]["honest"].max_score) == (6, 6)


@pytest.mark.parametrize(
    "student, expected",
    [
        ("edited_test", 5),
        ("emptied_test", 4),
        ("deleted_test", 3),
    ],
)
def test_tampered_test_cells_are_restored(batch, student, expected):
    """Do edited, emptied or deleted test cells run as written in the source?"""
    assert score(batch, student) == expected


def test_tampered_points_are_reset(batch):
    """Does raising the points in the metadata leave the maximum at 6 and the score at what was earned?"""
    result = batch[2]["points_tampered"]
    assert (result.score, result.max_score) == (3, 6)


@pytest.mark.parametrize("student", ["unknown_id", "schema_too_new", "duplicate_ids"])
def test_tampered_metadata_earns_nothing_extra(batch, student):
    """Do unknown grade ids, a too-new schema_version or duplicate cell ids neither crash grading nor add points?"""
    result = batch[2][student]
    assert result.graded and (result.score, result.max_score) == (6, 6)


def test_objects_that_fool_equality_earn_nothing(batch):
    """Does an answer whose __eq__ always returns True fail the tests it tries to fool?"""
    assert score(batch, "always_equal") == 3


def test_patched_builtins_are_restored(batch):
    """Does replacing builtins.all to pass a hidden test fail once the guard restores it?"""
    assert score(batch, "patched_builtins") == 5


def test_patched_library_functions_are_poisoned(batch):
    """Does replacing math.isclose (used by a hidden test) fail that test instead of passing it?"""
    assert score(batch, "patched_library") == 4


def test_hidden_exception_handlers_are_removed(batch):
    """Does a custom exception handler that swallows AssertionError fail to hide a failing test?"""
    assert score(batch, "hidden_errors") == 5


@needs_namespaces
def test_nothing_in_the_environment_reveals_grading(batch):
    """Can a notebook tell from its environment variables that it is being graded?"""
    assert score(batch, "env_probe") == 6


@pytest.mark.parametrize("student, expected", [("sys_exit", 5), ("os_exit", 1), ("segfault", 3)])
def test_exits_and_crashes_cost_only_what_did_not_run(batch, student, expected):
    """Do sys.exit(), os._exit() and a segfault keep the points of the cells that passed before?"""
    assert batch[2][student].graded
    assert score(batch, student) == expected


@pytest.mark.parametrize("student", ["flood_line", "flood_image"])
def test_output_floods_are_capped(batch, student):
    """Is an enormous line or image cut down in the autograded notebook, without costing points?"""
    assert score(batch, student) == 6
    assert (batch[0] / "autograded" / student / "00-demo" / NB).stat().st_size < 2_000_000


def test_pipes_and_links_left_behind_are_not_followed(batch):
    """Are a FIFO and links to /dev/zero and the gradebook, left beside the notebook, removed before anything copies the folder?"""
    result = batch[2]["leftovers"]
    assert result.graded and result.score == 6, result.notes
    assert any("removed 3 link(s) or special file(s)" in note for note in result.notes), result.notes
    assert not any("feedback could not" in note for note in result.notes), result.notes
    for kind in ("autograded", "feedback"):
        left = sorted(p.name for p in (batch[0] / kind / "leftovers" / "00-demo").iterdir())
        assert not {"pipe", "zeros", "grades.db"} & set(left), (kind, left)


def test_a_shadowing_module_is_not_used(batch):
    """Is a numpy.py handed in beside the notebook ignored (and said so), rather than imported?"""
    result = batch[2]["shadow_numpy"]
    assert result.score == 6
    assert any("ignored extra file numpy.py" in note for note in result.notes)


def test_running_out_of_memory_fails_only_that_cell(batch):
    """Does a 16 GiB allocation fail its own cell without harming the rest of the notebook?"""
    assert score(batch, "memory_hog") == 5


@needs_namespaces
def test_processes_are_limited_and_none_outlive_grading(batch):
    """Is a flood of processes cut off by the limit (where a separate user is possible), and is every one gone after grading?"""
    assert score(batch, "processes") == 6
    started = int(outputs(batch, "processes").split("started", 1)[1].split()[0])
    if SEPARATE_USER:  # the process limit binds only a non-root user
        assert started < 600, "the process limit did not stop the flood"
    left = subprocess.run(
        ["pgrep", "-f", f"sleep {STRAY_SLEEP}"], capture_output=True, text=True
    ).stdout.split()
    assert left == [], f"processes started by the notebook outlived it: {left}"
    kernels = subprocess.run(
        ["pgrep", "-f", "-m autograder.kernel"], capture_output=True, text=True
    ).stdout.split()
    assert kernels == [], f"grading kernels (a worker's spare?) outlived the batch: {kernels}"


@needs_namespaces
def test_secrets_and_the_network_are_out_of_reach(batch):
    """Can a notebook see solutions, the gradebook, other submissions or students, the grader's scratch or the host network?"""
    text = outputs(batch, "snoop")
    probes = [line for line in text.splitlines() if line.startswith("PROBE")]
    assert len(probes) == 11, text[-2000:]
    assert not [p for p in probes if "VISIBLE" in p or "BROKEN" in p], probes
    assert score(batch, "snoop") == 6


def test_sandbox_report_names_the_protections(batch):
    """Does the batch report say which protections were in force and which were missing?"""
    text = "; ".join(batch[1].protections)
    assert "timeout" in text and "memory" in text
    assert ("hidden" in text) if NAMESPACES else ("MISSING" in text)


# ---------------------------------------------------------------- kill and resume


def _gradebook_state(course: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {
            (sub.student.id, nb.name, g.name): g.auto_score
            for sub in gb.find_assignment("00-demo").submissions
            for nb in sub.notebooks
            for g in nb.grades
        }


def test_killed_batch_resumes_to_the_same_gradebook(demo_release, tmp_path, variant):
    """Killed with SIGKILL mid-batch and run again, is the gradebook the same as after one clean run?"""
    import shutil

    courses = []
    for name in ("interrupted", "clean"):
        course = tmp_path / name
        shutil.copytree(demo_release, course)
        release = course / "exercises" / "00-demo" / NB
        for i, wrong in enumerate(["double", "add_all", "fib", None, "double", "fib"]):
            answers = {**CORRECT, **({wrong: f"def {wrong}(*a):\n    return -1\n"} if wrong else {})}
            variant(release, course / "submitted" / f"s{i}" / "00-demo" / NB, answers=answers)
        courses.append(course)
    interrupted, clean = courses

    command = [
        sys.executable,
        "-m",
        "proximal",
        "grade",
        "00-demo",
        "--course-dir",
        str(interrupted),
        "--jobs",
        "1",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        graded = (
            list((interrupted / "autograded").glob("*/00-demo"))
            if (interrupted / "autograded").is_dir()
            else []
        )
        if len(graded) >= 2:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the batch finished before it could be interrupted"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # the killed grader's kernels (the one grading and the spare) die with their worker
    pattern = f"-m autograder.kernel -f {tempfile.gettempdir()}/proximal-grade-"
    deadline = time.monotonic() + 30
    while (
        subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    left = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout
    assert not NAMESPACES or not left, f"kernels outlived the killed grader:\n{left}"

    grade(interrupted, "00-demo", jobs=2, progress=False)
    grade(clean, "00-demo", jobs=2, progress=False)
    assert _gradebook_state(interrupted) == _gradebook_state(clean)
    assert len({key[0] for key in _gradebook_state(interrupted)}) == 6
