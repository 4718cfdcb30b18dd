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

CELL_TIMEOUT = 5  # the demo course's per-cell limit (conftest.demo_release)
GRACE = 2
RESIDENT = 1024**3
# a name no other process on the machine writes: files a kernel leaves in /tmp, /var/tmp, /dev/shm
LITTER = f"proximal-redteam-litter-{os.getpid()}"
NOTHING = "raise NotImplementedError()\n"
WRONG = {
    "double": "def double(x):\n    return 0\n",
    "add_all": "def add_all(xs):\n    return 0\n",
    "fib": "def fib(n):\n    return 0\n",
}
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
    # a second copy of the course elsewhere on the machine, which a kernel must not find
    clone = tmp_path_factory.mktemp("second-clone") / "course"
    shutil.copytree(course / "solutions", clone / "solutions")

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
        "import os, sys, socket, urllib.request, threading, http.server\n"
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
        "                    'other students': os.path.abspath('../../../honest'),\n"
        f"                    'second clone': {str(clone)!r}, 'main checkout': '/work/main/solutions',\n"
        "                    'srv': '/srv', 'etc passwd': '/etc/passwd'}.items():\n"
        "    print('PROBE', _name, 'VISIBLE' if _visible(_path) else 'hidden')\n"
        # in the stage: this notebook's folder, and the kernel slots' private folders of which
        # only its own may open (the other is the spare that will run the next submission)
        # a search of the whole view for any copy of the course's sources
        "_found = []\n"
        "for _top in ('/tmp', '/var', '/srv', '/work', '/root', '/home', '/opt', '/mnt', '/usr/local', '/usr/src'):\n"
        "    for _dir, _subdirs, _files in os.walk(_top):\n"
        f"        _found += [os.path.join(_dir, f) for f in _files if f == {NB!r} and 'snoop' not in _dir]\n"
        "print('PROBE home', 'VISIBLE' if [n for n in os.listdir('/root') if not sys.base_prefix.startswith(f'/root/{n}/')]\n"
        "      else 'hidden') if os.path.isdir('/root') else print('PROBE home hidden')\n"
        "print('PROBE other copies of the course', f'VISIBLE {_found[:3]}' if _found else 'hidden')\n"
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

    submit_hostile(submit, course)
    # short limits for this batch: 5 s per cell (the demo course), 2 s of grace, 1 GiB resident
    # (one in the course's config, one as `proximal grade --SandboxLimits.resident_bytes=...` passes it)
    with (course / "nbgrader_config.py").open("a") as config:
        config.write(f"\nc.SurvivingExecute.interrupt_grace = {GRACE}\n")
    report = grade(
        course, "00-demo", jobs=2, progress=False, overrides={"SandboxLimits": {"resident_bytes": RESIDENT}}
    )
    return course, report, {r.student: r for r in report.results}


def submit_hostile(submit, course: Path) -> None:
    """The submissions of issue 15: each switches tests off, reads what it must not, or stops answering."""
    pass_all = "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n"
    submit("transformer_pass", {"double": pass_all, "add_all": NOTHING, "fib": NOTHING})
    submit(
        "guard_replaced",
        {
            "double": "import sys, types, autograder\n"
            "_fake = types.ModuleType('autograder.guard')\n"
            "_fake.snapshot = _fake.restore = _fake.install = lambda *a: None\n"
            "sys.modules['autograder.guard'] = autograder.guard = _fake\n" + pass_all,
            "add_all": NOTHING,
            "fib": NOTHING,
        },
    )
    submit(
        "audit_reinstall",
        {
            "double": "import sys, ast\n"
            "class _NoAsserts(ast.NodeTransformer):\n"
            "    def visit_Assert(self, node):\n"
            "        return ast.Pass()\n"
            "def _hook(event, args):\n"
            "    if event == 'compile':\n"
            "        _ts = get_ipython().ast_transformers\n"
            "        if not any(type(t).__name__ == '_NoAsserts' for t in _ts):\n"
            "            _ts.append(_NoAsserts())\n"
            "sys.addaudithook(_hook)\n"
            "get_ipython().ast_transformers.append(_NoAsserts())\n" + WRONG["double"],
            "add_all": WRONG["add_all"],
            "fib": WRONG["fib"],
        },
    )
    # re-installs itself from every cell and sends a test cell's last line (the completion line) alone
    submit(
        "forged_completion",
        {
            "double": "try:\n"
            "    type(get_ipython()).transform_cell = lambda self, cell: 'pass\\n'\n"
            "    print('class patched')\n"
            "except RuntimeError:\n"
            "    print('class patch refused')\n"
            "def _evil(cell):\n"
            "    last = cell.rstrip().splitlines()[-1] if cell.strip() else ''\n"
            "    keep = last if 'proximal.passed' in last else cell\n"
            "    return 'get_ipython().transform_cell = _evil\\n' + keep + '\\n'\n"
            "get_ipython().transform_cell = _evil\n" + WRONG["double"],
            "add_all": WRONG["add_all"],
            "fib": WRONG["fib"],
        },
    )
    submit(
        "shadow_builtins",
        {"double": "def all(items):\n    return True\ndef double(x):\n    return 4 if x == 2 else 0\n"},
    )
    submit(
        "thread_undo",
        {
            "double": "import builtins, threading, time\n_real_all = all\n"
            "def _fake(items):\n"
            "    return True if type(items).__name__ == 'generator' else _real_all(items)\n"
            "def _undo():\n"
            "    while True:\n"
            "        builtins.all = _fake\n"
            "        time.sleep(0.0005)\n"
            "threading.Thread(target=_undo, daemon=True).start()\n"
            "def double(x):\n    return 4 if x == 2 else 0\n"
        },
    )
    submit(
        "tracer",
        {
            "double": "import sys, threading\n"
            "def _tracer(frame, event, arg):\n    return None\n"
            "for _set in (sys.settrace, sys.setprofile):\n"
            "    try:\n"
            "        _set(_tracer)\n"
            "        print('trace set')\n"
            "    except RuntimeError:\n"
            "        print('trace refused')\n"
            "import gc, random\n"
            "for _look in (gc.get_objects, lambda: gc.get_referrers(globals()), lambda: gc.get_referents(sys)):\n"
            "    try:\n"
            "        _look()\n"
            "        print('gc answered')\n"
            "    except RuntimeError:\n"
            "        print('gc refused')\n"
            "gc.get_referrers(random.Random())\n"
            "print('prng holders answered')\n" + WRONG["double"]
        },
    )
    submit(
        "import_hook",
        {
            "add_all": "import sys, types, importlib.abc, importlib.util\n"
            "class _FakeMath(importlib.abc.MetaPathFinder, importlib.abc.Loader):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        return importlib.util.spec_from_loader(name, self) if name == 'math' else None\n"
            "    def create_module(self, spec):\n"
            "        module = types.ModuleType('math')\n"
            "        module.isclose = lambda *a, **k: True\n"
            "        return module\n"
            "    def exec_module(self, module):\n"
            "        pass\n"
            "sys.meta_path.insert(0, _FakeMath())\nsys.modules.pop('math', None)\n"
            "def add_all(xs):\n    return 0 if xs == [] else int(sum(xs))\n"
        },
    )
    solution = course / "solutions" / "00-demo" / NB
    linked = course / "submitted" / "linked" / "00-demo" / NB
    linked.parent.mkdir(parents=True)
    linked.symlink_to(solution)
    submit(
        "leak_hidden",
        {
            "double": "import sys\n"
            "def _spy(event, args):\n"
            "    if event == 'compile' and isinstance(args[0], str):\n"
            "        print('LEAK', args[0])\n"
            "sys.addaudithook(_spy)\n"
            "get_ipython().events.register('post_run_cell', lambda result: print('LEAK', result.info.raw_cell))\n"
            + CORRECT["double"],
            "add_all": "print('LEAK', '\\n'.join(In))\n"
            "open('leak.txt', 'w').write('\\n'.join(In))\n" + CORRECT["add_all"],
            # called by the test, the answer raises an error that quotes the test's source
            "fib": "import linecache, sys\n"
            "def fib(n):\n"
            "    caller = sys._getframe(1).f_code.co_filename\n"
            "    raise ValueError(''.join(linecache.getlines(caller)))\n",
        },
    )
    submit(
        "sigint_loop",
        {"add_all": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"},
    )
    submit("sigstop", {"add_all": "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)\n"})
    submit(
        "broken_builtins",
        {
            "fib": "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.abs = None\nbuiltins.all = None\n"
        },
    )
    submit(
        "fork_bomb",
        {
            "add_all": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
        },
    )
    submit(
        "litter",
        {
            "double": "import os\n"
            f"for _folder in ('/tmp', '/var/tmp', '/dev/shm'):\n"
            f"    open(os.path.join(_folder, {LITTER!r}), 'w').write('left behind')\n" + CORRECT["double"]
        },
    )
    # resident memory past the batch's 1 GiB cap (well inside the address-space limit): every page written
    submit("resident_hog", {"fib": "_hog = b'x' * (1536 * 1024 ** 2)\n" + CORRECT["fib"]})


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
    assert len(probes) == 17, text[-2000:]
    allow_list_only = ("second clone", "main checkout", "home", "srv", "etc passwd", "other copies")
    if not sandbox.bubblewrap_available():  # the deny-list fallback hides the course's secrets only
        probes = [p for p in probes if not any(name in p for name in allow_list_only)]
    assert not [p for p in probes if "VISIBLE" in p or "BROKEN" in p], probes
    assert score(batch, "snoop") == 6


def test_sandbox_report_names_the_protections(batch):
    """Does the batch report say which protections were in force and which were missing?"""
    text = "; ".join(batch[1].protections)
    assert "timeout" in text and "memory" in text and "completion secret" in text
    if not NAMESPACES:
        assert "MISSING" in text
    elif sandbox.bubblewrap_available():
        assert "allow-list view (bubblewrap)" in text
    else:
        assert "MISSING: bubblewrap" in text
    if "memory" in sandbox.cgroups_available():  # the batch's own limit, given as an override
        assert f"resident memory capped at {RESIDENT / 1024**3:g} GiB" in text, text
    for controller in ("memory", "pids", "cpu"):
        if controller not in sandbox.cgroups_available():
            assert controller in text.split("MISSING: cgroup", 1)[1], text


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


# ---------------------------------------------------------------- issue 15: tests that cannot be switched off


def autograded_cells(batch, student: str) -> dict[str, list]:
    """The outputs of each graded cell of a student's autograded notebook, by grade id."""
    nb = nbformat.read(batch[0] / "autograded" / student / "00-demo" / NB, as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.get("outputs", [])
        for cell in nb.cells
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    }


def error_names(batch, student: str) -> set[str]:
    return {
        o.get("ename") for outs in autograded_cells(batch, student).values() for o in outs if o.get("ename")
    }


@pytest.mark.parametrize(
    "student, expected",
    [
        ("transformer_pass", 0),
        ("guard_replaced", 0),
        ("audit_reinstall", 0),
        ("forged_completion", 0),
        ("shadow_builtins", 5),
        ("thread_undo", 5),
        ("tracer", 5),
        ("import_hook", 4),
    ],
)
def test_notebook_code_cannot_switch_tests_off(batch, student, expected):
    """Do transformers, a replaced guard, audit hooks, forged completion lines, shadowing globals, threads, tracers or import hooks earn nothing they did not answer?"""
    result = batch[2][student]
    assert result.graded and (result.score, result.max_score) == (expected, 6), result.notes
    # every test that earned nothing says why: an assertion, a missing name, or an incomplete test
    failed = [
        gid for gid, outs in autograded_cells(batch, student).items() if gid.endswith("_tests") and outs
    ]
    assert failed, "a failing test cell left no reason"
    assert not any(
        "proximal-passed" in outputs(batch, s) for s in batch[2] if (batch[0] / "autograded" / s).exists()
    )


def test_forged_completion_is_undone_and_named(batch):
    """Is a class patch of IPython undone before the tests, and is a test cell rewritten into its completion line reported as not completed?"""
    # the class patch (every cell becomes `pass`) is set, but undone at the next cell: every test
    # cell then ran as the instance patch made it (its completion line alone), which is not the test
    assert "class patched" in outputs(batch, "forged_completion")
    tests = {
        gid: outs
        for gid, outs in autograded_cells(batch, "forged_completion").items()
        if gid.endswith("_tests")
    }
    assert all(any(o.get("ename") == "TestNotCompleted" for o in outs) for outs in tests.values()), tests


def test_tracing_is_refused(batch):
    """Are sys.settrace, sys.setprofile and the gc's object walks refused inside a graded kernel, while Hypothesis' question (who holds this PRNG?) is answered?"""
    printed = outputs(batch, "tracer")
    assert printed.count("trace refused") == 2
    assert printed.count("gc refused") == 3 and "gc answered" not in printed
    assert "prng holders answered" in printed


def test_a_linked_notebook_is_not_followed(batch):
    """Is a submitted notebook that is a symbolic link to the solution reported and scored 0, while the batch goes on?"""
    result = batch[2]["linked"]
    assert result.score == 0, result.notes
    assert any(f"{NB} is a symbolic link, not a notebook; it scores 0" in note for note in result.notes), (
        result.notes
    )
    assert score(batch, "honest") == 6


def test_hidden_tests_stay_out_of_feedback(batch):
    """Do audit hooks, callbacks, In and an error quoting the caller keep every hidden test out of the feedback, and are written files left out of it?"""
    import html

    result = batch[2]["leak_hidden"]
    assert result.score == 3, result.notes  # fib raises: its test scores 0; the rest is correct
    folder = batch[0] / "feedback" / "leak_hidden" / "00-demo"
    assert sorted(p.name for p in folder.iterdir()) == ["demo-exercises.html"]
    page = html.unescape((folder / "demo-exercises.html").read_text())
    for hidden in (
        "assert all(double(n) == 2 * n",
        "math.isclose(add_all([0.5, 0.25])",
        "assert fib(30) == 832040",
    ):
        assert hidden not in page, hidden
    assert "ValueError" in page  # the learner still sees that fib raised


@pytest.mark.parametrize("student", ["sigint_loop", "sigstop", "fork_bomb"])
def test_a_kernel_that_stops_answering_costs_only_its_own_cells(batch, student):
    """Is a cell that ignores the interrupt, a stopped kernel or a fork bomb killed within the cell limit plus grace, scoring the rest 0 with a reason?"""
    result = batch[2][student]
    assert result.graded and result.score == 1, result.notes  # double passed before; add_all and fib 0
    assert "did not stop within" in outputs(batch, student)
    # its own time: what an honest submission takes, plus one cell's limit and grace, plus slack for load
    assert result.seconds < batch[2]["honest"].seconds + CELL_TIMEOUT + GRACE + 20, result.seconds


def test_builtins_that_break_the_kernel_cost_only_their_cell(batch):
    """Does replacing builtins.isinstance, abs and all (which hangs a kernel) cost only the cells from there on, in bounded time?"""
    result = batch[2]["broken_builtins"]
    assert result.graded and result.score == 3, result.notes
    assert result.seconds < batch[2]["honest"].seconds + CELL_TIMEOUT + GRACE + 20, result.seconds


@needs_namespaces
def test_nothing_written_survives_the_kernel(batch):
    """Do files a notebook writes to /tmp, /var/tmp and /dev/shm stay out of the host?"""
    assert score(batch, "litter") == 6
    if sandbox.bubblewrap_available():
        left = [f for f in ("/tmp", "/var/tmp", "/dev/shm") if os.path.exists(os.path.join(f, LITTER))]
        assert left == [], f"files left on the host in {left}"


@needs_namespaces
def test_resident_memory_is_capped(batch):
    """Does touching more memory than the resident cap kill only that cell's kernel (where a memory cgroup is possible)?"""
    capped = "memory" in sandbox.cgroups_available()
    assert score(batch, "resident_hog") == (3 if capped else 6)
    line = "; ".join(batch[1].protections)
    assert ("resident memory capped" in line) if capped else ("MISSING: cgroup" in line)


ALONE = {
    "sigint_loop": (
        {"add_all": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"},
        1,
    ),
    "fork_bomb": (
        {
            "add_all": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
        },
        1,
    ),
    "transformer_pass": (
        {
            "double": "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n",
            "add_all": NOTHING,
            "fib": NOTHING,
        },
        0,
    ),
}


@pytest.mark.parametrize("student", sorted(ALONE))
def test_graded_alone_the_same_and_in_bounded_time(demo_release, tmp_path, student):
    """Graded on its own, does a hostile submission get the same score as in the batch, within the cell limit plus grace of an honest one?"""
    import shutil

    course = tmp_path / "course"
    shutil.copytree(demo_release, course)
    with (course / "nbgrader_config.py").open("a") as config:
        config.write(f"\nc.SurvivingExecute.interrupt_grace = {GRACE}\n")
    answers, expected = ALONE[student]
    release = course / "exercises" / "00-demo" / NB
    for name, changes in (("honest", {}), (student, answers)):
        write_variant(release, course / "submitted" / name / "00-demo" / NB, answers={**CORRECT, **changes})
    report = grade(course, "00-demo", jobs=1, progress=False)
    results = {r.student: r for r in report.results}
    assert results[student].score == expected, results[student].notes
    assert results["honest"].score == 6
    # one worker grades both in turn: the hostile one costs at most one cell's limit and grace more
    assert results[student].seconds < results["honest"].seconds + CELL_TIMEOUT + GRACE + 15, report
