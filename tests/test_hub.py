"""A workshop on a real JupyterHub, driven in a real browser (Playwright and Debian's Chromium).

The test starts ``proximal hub`` on loopback (ports chosen free at run time), with two learners and
an instructor as Unix users it creates and deletes. Skipped, with the reason, where it cannot run:
not root (users are created), no Chromium, no playwright package, no configurable-http-proxy
(``make hub-deps``). Screenshots, the hub's log and timings go to ``artifacts/hub/``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
PROXY = ROOT / ".venv" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
MODULE = "01-asyncio"
NB = "asyncio-exercises.ipynb"
ARTIFACTS = ROOT / "artifacts" / "hub"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]
# The classic mistake: time.sleep blocks the event loop, so the cups do not steep together.
BLOCKING_TEA = (
    "import time\n\n\nasync def make_tea_async(kind: str, steep: float) -> str:\n"
    "    time.sleep(steep)\n"
    '    return f"a cup of {kind} tea"\n'
)
SUBMIT_CELL = "from proximal.workshop.notebook import submit_and_grade\n\nsubmit_and_grade()"
# Only a guard against a hang: how long each step actually took is written to artifacts/hub/timings.json.
PATIENCE_MS = 240_000


def _requirements() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (it creates a Unix user per learner)"
    if not CHROMIUM.is_file():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    if not os.access(PROXY, os.X_OK):
        return f"no configurable-http-proxy at {PROXY} (make hub-deps: npm install configurable-http-proxy@5.3.0)"
    for tool in ("useradd", "userdel", "unshare", "setpriv"):
        if shutil.which(tool) is None:
            return f"no {tool} on this machine"
    if not (ROOT / "exercises" / MODULE / NB).is_file():
        return f"exercises/{MODULE}/{NB} has not been released"
    return None


needs_hub = pytest.mark.skipif(_requirements() is not None, reason=f"hub test: {_requirements()}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Hub:
    url: str
    state: Path
    ada: str  # solves everything
    bo: str  # makes the blocking-sleep mistake
    instructor: str
    workshop_code: str
    instructor_code: str

    @property
    def ledger(self) -> list[dict]:
        path = self.state / "hub" / "ledger.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []

    def grader_pid(self) -> int:
        return int((self.state / "hub" / "grader.pid").read_text())


def _alive(pid: int, marker: str) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def _pids_running(marker: str) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _alive(int(entry.name), marker):
            found.add(int(entry.name))
    return found


def _wait_http(url: str, seconds: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"proximal hub exited: {log.read_text()[-3000:]}")
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {seconds:.0f} s: {log.read_text()[-3000:]}")


@pytest.fixture
def hub():
    """``proximal hub`` on loopback with two learners and an instructor; everything removed afterwards."""
    from proximal.workshop.deploy import teardown
    from proximal.workshop.layout import Layout

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tag = secrets.token_hex(2)
    names = {"ada": f"pxt{tag}ada", "bo": f"pxt{tag}bo", "instructor": f"pxt{tag}inst"}
    state = Path(tempfile.mkdtemp(prefix="proximal-hub-test-", dir="/tmp"))
    os.chmod(state, 0o755)  # learners reach the exchange through it
    port = _free_port()
    log_path = ARTIFACTS / "hub.log"
    log = open(log_path, "w")
    command = [sys.executable, "-m", "proximal", "hub", names["ada"], names["bo"]]
    command += [
        "--instructor",
        names["instructor"],
        "--state",
        str(state),
        "--port",
        str(port),
        "--stuck-after",
        "1",
    ]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/hub/login", 180, proc, log_path)
        _wait_http(f"{url}/services/grader/", 120, proc, log_path)
        yield Hub(
            url,
            state,
            names["ada"],
            names["bo"],
            names["instructor"],
            (state / "hub" / "workshop-code").read_text().strip(),
            (state / "hub" / "instructor-code").read_text().strip(),
        )
    finally:
        proc.send_signal(signal.SIGTERM)  # the hub stops the learners' servers, the service and the proxy
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for name, marker in (
            ("proxy.pid", "configurable-http-proxy"),
            ("grader.pid", "proximal.workshop.service"),
        ):
            pid_file = state / "hub" / name
            if pid_file.is_file() and _alive(int(pid_file.read_text()), marker):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
        log.close()
        teardown(Layout(state))  # the users it created (their processes, homes) and the state folder


def _lab_settings(user: str) -> None:
    """Render every cell (JupyterLab 4 only renders cells near the viewport), as tests/test_browser.py does."""
    import pwd

    entry = pwd.getpwnam(user)
    folder = Path(entry.pw_dir) / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    for path in [folder, *folder.parents]:
        if path == Path(entry.pw_dir):
            break
        os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chown(folder / "tracker.jupyterlab-settings", entry.pw_uid, entry.pw_gid)


def _login(browser, hub: Hub, user: str, code: str, next_url: str = ""):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login" + (f"?next={next_url}" if next_url else ""))
    page.fill("#username_input", user)
    page.fill("#password_input", code)
    page.click("#login_submit")
    return context, page


def _answer(user: str, wrong: bool) -> Path:
    """Write the learner's answers into their fetched notebook (as the learner would have typed them)."""
    import pwd

    entry = pwd.getpwnam(user)
    path = Path(entry.pw_dir) / MODULE / NB
    nb = nbformat.read(path, as_version=4)
    solution = nbformat.read(ROOT / "solutions" / MODULE / NB, as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in solution.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            if wrong:
                if meta["grade_id"] == "make_tea":
                    cell.source = BLOCKING_TEA
            else:
                cell.source = answers[meta["grade_id"]]
    nbformat.write(nb, path)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _open_lab(page, hub: Hub, user: str) -> None:
    from playwright.sync_api import expect

    page.wait_for_url(re.compile(rf"/user/{user}/lab"), timeout=PATIENCE_MS)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=PATIENCE_MS)


def _fetch_in_assignments_tab(page, user: str) -> None:
    """Nbgrader > Assignment List, then Fetch on the module's row: what a learner clicks."""
    import pwd

    page.get_by_role("menuitem", name="Nbgrader").click()
    page.get_by_text("Assignment List", exact=True).click()
    fetch = page.get_by_role("button", name="Fetch").first
    fetch.wait_for(timeout=PATIENCE_MS)
    page.screenshot(path=str(ARTIFACTS / f"{user}-1-assignments.png"))
    fetch.click()
    target = Path(pwd.getpwnam(user).pw_dir) / MODULE / NB
    deadline = time.monotonic() + PATIENCE_MS / 1000
    while not target.is_file() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert target.is_file(), f"{user} clicked Fetch but {target} did not appear"


def _run_submit_cell(page, hub: Hub, user: str):
    """Open the notebook, turn its last cell into submit_and_grade(), save, run it; the cell's locator and when it ran."""
    from playwright.sync_api import expect

    page.goto(f"{hub.url}/user/{user}/lab/tree/{MODULE}/{NB}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=PATIENCE_MS)
    expect(page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\|\s*Idle"))).to_have_count(
        1, timeout=PATIENCE_MS
    )
    cell = page.locator(".jp-CodeCell", has_text="check()").last
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(SUBMIT_CELL)
    page.keyboard.press("Escape")
    page.keyboard.press("Control+S")
    cell = page.locator(".jp-CodeCell", has_text="submit_and_grade()").last
    cell.locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")
    return cell, time.monotonic()


PROBE = """import os


def _readable(path):
    try:
        return bool(os.listdir(path)) if os.path.isdir(path) else bool(open(path, "rb").read(1))
    except OSError:
        return False


print("PROBE", {path: _readable(path) for path in PATHS})
"""


def _probe_in_kernel(page, cell, paths: list[str]) -> dict[str, bool]:
    """Run a new cell below ``cell`` in the learner's own kernel: which of ``paths`` can it read?"""
    cell.locator(".cm-content").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # a new cell below, in edit mode after Enter
    page.keyboard.press("Enter")
    page.keyboard.insert_text(f"PATHS = {paths!r}\n" + PROBE)
    page.keyboard.press("Shift+Enter")
    probe = page.locator(".jp-CodeCell", has_text="PROBE").last.locator(".jp-OutputArea-output")
    from playwright.sync_api import expect

    expect(probe).to_contain_text("PROBE {", timeout=PATIENCE_MS)
    text = probe.inner_text()
    return ast.literal_eval(text[text.index("{") :])


def _rerun(page, cell) -> None:
    cell.locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")


def _wait_graded(cell, attempt: int) -> str:
    from playwright.sync_api import expect

    expect(cell.locator(".jp-OutputArea-output")).to_contain_text(f"(attempt {attempt})", timeout=PATIENCE_MS)
    expect(cell.locator(".jp-OutputArea-output")).to_contain_text("Total:", timeout=PATIENCE_MS)
    return cell.locator(".jp-OutputArea-output").inner_text()


def _line(output: str, exercise: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(exercise))


@needs_hub
def test_workshop_release_submit_grade_dashboard_forbidden_and_crash(hub: Hub):
    """On a real hub: do learners who fetch module 01 and submit get their own grade back in the notebook,
    does the instructor's live dashboard show one pass, one stuck learner and a pair, are learners kept
    out of the dashboard and each other's feedback, and does a grading service killed mid-grade grade
    every submission exactly once after the hub restarts it?"""
    from playwright.sync_api import expect, sync_playwright

    timings: dict[str, float] = {}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "proximal", "hub", "release", MODULE, "--state", str(hub.state)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    timings["release"] = time.monotonic() - started
    for user in (hub.ada, hub.bo):
        _lab_settings(user)
    full = sum(
        c.metadata["nbgrader"].get("points", 0)
        for c in nbformat.read(ROOT / "solutions" / MODULE / NB, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("grade")
    )

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # the instructor opens the dashboard first: it must update by itself as grades arrive
            _, teacher = _login(
                browser, hub, hub.instructor, hub.instructor_code, "/services/grader/dashboard"
            )
            expect(teacher.get_by_text("Where is the class stuck?")).to_be_visible(timeout=PATIENCE_MS)

            pages = {}
            for user in (hub.ada, hub.bo):
                _, page = _login(browser, hub, user, hub.workshop_code)
                _open_lab(page, hub, user)
                _fetch_in_assignments_tab(page, user)
                pages[user] = page
            _answer(hub.ada, wrong=False)
            _answer(hub.bo, wrong=True)

            cells, submitted = {}, {}
            for user in (hub.ada, hub.bo):
                cells[user], submitted[user] = _run_submit_cell(pages[user], hub, user)
            outputs = {}
            for user in (hub.ada, hub.bo):
                outputs[user] = _wait_graded(cells[user], attempt=1)
                # from the learner's Shift+Enter on submit_and_grade() to the score in the notebook
                timings[f"submit to grade seen, {user}"] = time.monotonic() - submitted[user]
                pages[user].screenshot(path=str(ARTIFACTS / f"{user}-2-graded.png"), full_page=True)

            assert f"Graded with the hidden tests: {full:g}/{full:g} points" in outputs[hub.ada], outputs[
                hub.ada
            ]
            assert "✓" in _line(outputs[hub.ada], "make_tea")
            bo_tea = _line(outputs[hub.bo], "make_tea")
            assert "✗" in bo_tea and "steeped at the same time" in bo_tea, outputs[hub.bo]
            for text in outputs.values():
                assert "rooibos" not in text, "a hidden test's input reached the learner"

            from proximal.workshop.spawner import git_folders

            # bo's own kernel cannot read the hidden tests, the gradebook or ada's files; the release it can
            paths = {
                "solutions": str(ROOT / "solutions" / MODULE),
                "git": str(ROOT / ".git"),
                **{f"git history {i}": str(p) for i, p in enumerate(git_folders(ROOT))},
                "gradebook": str(hub.state / "course" / "gradebook.db"),
                "ada's work": f"/home/{hub.ada}/{MODULE}",
                "the release": str(hub.state / "exchange" / "proximal" / "outbound" / MODULE / NB),
            }
            seen = _probe_in_kernel(pages[hub.bo], cells[hub.bo], list(paths.values()))
            pages[hub.bo].screenshot(path=str(ARTIFACTS / f"{hub.bo}-3-probe.png"))
            readable = {label for label, path in paths.items() if seen[path]}
            assert readable == {"the release"}, readable

            # the dashboard, never reloaded, now shows the class
            expect(teacher.locator("table.stuck td.learner")).to_have_text([hub.bo], timeout=60_000)
            expect(teacher.locator("table.stuck td.peer")).to_have_text([hub.ada])
            teacher.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            board = json.loads(teacher.goto(f"{hub.url}/services/grader/api/dashboard").text())
            make_tea = next(e for e in board["exercises"] if e["name"] == "make_tea")
            assert (make_tea["submitted"], make_tea["passed"]) == (2, 1), make_tea
            assert any("steeped at the same time" in f["message"] for f in make_tea["failures"]), make_tea
            assert [(s["learner"], s["exercise"], s["peer"]) for s in board["stuck"]] == [
                (hub.bo, "make_tea", hub.ada)
            ]
            assert [(q["helper"], q["learner"]) for q in board["pairs"]] == [(hub.ada, hub.bo)]

            # a learner is kept out of the dashboard and of a classmate's feedback, not out of their own
            bo = pages[hub.bo]
            for path in ("/services/grader/dashboard", f"/services/grader/feedback/{hub.ada}/{MODULE}"):
                response = bo.goto(hub.url + path)
                assert response.status == 403, (path, response.status)
                expect(bo.locator("body")).to_contain_text("Forbidden")
            bo.screenshot(path=str(ARTIFACTS / "forbidden.png"))
            response = bo.goto(f"{hub.url}/user/{hub.ada}/lab")
            assert response.status == 403, f"{hub.bo} opened {hub.ada}'s server: {response.status}"
            response = bo.goto(f"{hub.url}/user/{hub.bo}/formgrader")
            assert response.status == 404, f"a learner's own server has formgrader: {response.status}"
            response = bo.goto(f"{hub.url}/services/grader/feedback/{hub.bo}/{MODULE}")
            assert (
                response.status == 200 and "make_tea" in response.text() and "rooibos" not in response.text()
            )

            # bo resubmits; the service is killed while grading it; the hub restarts it
            _run_again = pages[hub.bo]
            _run_again.goto(f"{hub.url}/user/{hub.bo}/lab/tree/{MODULE}/{NB}")
            cell = _run_again.locator(".jp-CodeCell", has_text="submit_and_grade()").last
            cell.wait_for(timeout=PATIENCE_MS)
            expect(
                _run_again.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\|\s*Idle"))
            ).to_have_count(1, timeout=PATIENCE_MS)
            before = {e["entry"] for e in hub.ledger}
            first_pid = hub.grader_pid()
            _rerun(_run_again, cell)
            deadline = time.monotonic() + PATIENCE_MS / 1000
            while time.monotonic() < deadline:
                fresh = [e for e in hub.ledger if e["event"] == "started" and e["entry"] not in before]
                if fresh:
                    break
                time.sleep(0.2)
            else:
                pytest.fail("the resubmission was never picked up")
            jobs = _pids_running("proximal.workshop.gradejob")
            os.kill(first_pid, signal.SIGKILL)
            killed_entry = fresh[0]["entry"]
            output = _wait_graded(cell, attempt=2)
            _run_again.screenshot(
                path=str(ARTIFACTS / f"{hub.bo}-3-regraded-after-crash.png"), full_page=True
            )
            assert "steeped at the same time" in _line(output, "make_tea")
            assert hub.grader_pid() != first_pid, "the hub did not restart the grading service"
            assert not (jobs & _pids_running("proximal.workshop.gradejob")), (
                "the killed grading left processes behind"
            )

            # the instructor's own server: formgrader on the workshop's course, with the service's grades
            teacher.goto(f"{hub.url}/hub/spawn")
            _open_lab(teacher, hub, hub.instructor)
            formgrader = f"{hub.url}/user/{hub.instructor}/formgrader"
            teacher.goto(f"{formgrader}/manage_submissions/{MODULE}")
            for user in (hub.ada, hub.bo):
                expect(teacher.get_by_text(user).first).to_be_visible(timeout=PATIENCE_MS)
            teacher.screenshot(path=str(ARTIFACTS / "formgrader.png"), full_page=True)
            listed = json.loads(teacher.goto(f"{formgrader}/api/submissions/{MODULE}").text())
            assert {s["student"]: s["score"] for s in listed} == {hub.ada: full, hub.bo: 0}, listed
        finally:
            browser.close()

    inbound = sorted(p.name for p in (hub.state / "exchange" / "proximal" / "inbound").iterdir())
    events = hub.ledger
    graded = {
        name: sum(1 for e in events if e["entry"] == name and e["event"] == "graded") for name in inbound
    }
    assert len(inbound) == 3 and all(count == 1 for count in graded.values()), graded
    starts = [e for e in events if e["entry"] == killed_entry and e["event"] == "started"]
    assert len(starts) == 2, f"expected the killed grading and its retry, got {starts}"

    export = subprocess.run(
        [
            sys.executable,
            "-m",
            "proximal",
            "hub",
            "export",
            "--state",
            str(hub.state),
            "--csv",
            str(ARTIFACTS / "grades.csv"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert export.returncode == 0, export.stderr
    rows = (ARTIFACTS / "grades.csv").read_text()
    assert hub.ada in rows and hub.bo in rows
    (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=1))


# ---------------------------------------------------------------- the service's bookkeeping (no hub needed)


def _submission(inbound: Path, student: str, stamp: str, secret: str = "s", complete: bool = True) -> str:
    name = f"{student}+{MODULE}+{stamp}+{secrets.token_hex(3)}"
    folder = inbound / name
    folder.mkdir(parents=True)
    (folder / NB).write_text("{}")
    (folder / "submission_secret.txt").write_text(secret)
    if complete:
        (folder / "timestamp.txt").write_text(stamp)
    return name


T1, T2, T3 = (f"2026-12-01 10:00:0{i}.000000 UTC" for i in (1, 2, 3))


def test_plan_grades_each_learners_newest_submission_oldest_first(tmp_path):
    """Is only each learner's newest submission graded, oldest first, the replaced one marked superseded,
    and a submission still being copied (no timestamp.txt) left for later?"""
    from proximal.workshop.inbox import GRADE, Ledger, plan, scan, superseded

    old_ada = _submission(tmp_path, "ada", T1)
    bo = _submission(tmp_path, "bo", T2)
    new_ada = _submission(tmp_path, "ada", T3)
    _submission(tmp_path, "cy", T1, complete=False)
    entries, ledger = scan(tmp_path), Ledger(tmp_path.parent / "ledger.jsonl")
    assert [(a, e.name) for a, e in plan(entries, ledger, {})] == [(GRADE, bo), (GRADE, new_ada)]
    assert [e.name for e in superseded(entries, ledger)] == [old_ada]


def test_plan_after_a_crash_grades_nothing_twice(tmp_path):
    """After a crash, is a submission the gradebook already holds only released (not graded again),
    one the gradebook does not hold yet graded, and one the ledger completed left alone?"""
    from datetime import datetime

    from proximal.workshop.inbox import GRADE, RELEASE, Ledger, plan, scan

    inbound = tmp_path / "inbound"
    ada = _submission(inbound, "ada", T1, secret="a")
    bo = _submission(inbound, "bo", T2, secret="b")
    cy = _submission(inbound, "cy", T3, secret="c")
    entries = scan(inbound)
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.append("started", entries[2])
    ledger.append("graded", entries[2], score=1.0, max_score=1.0)
    with open(ledger.path, "a") as handle:
        handle.write('{"event": "graded", "entry": "bo+')  # a line cut short by the crash
    in_gradebook = {
        ("ada", MODULE): (datetime(2026, 12, 1, 10, 0, 1), "a"),  # committed, ledger line missing
        ("bo", MODULE): (datetime(2026, 12, 1, 9, 0, 0), "b-older"),  # an older grade only
    }
    assert [(a, e.name) for a, e in plan(entries, ledger, in_gradebook)] == [(RELEASE, ada), (GRADE, bo)]
    assert ledger.done() == {cy}


def test_check_on_a_hub_runs_the_visible_tests_of_the_release(tmp_path, monkeypatch, capsys):
    """On a hub (no solutions/ in reach), does check() score the untouched release with its visible tests
    alone, and offer submit_and_grade() for the hidden ones?"""
    from proximal.workshop.notebook import check_on_hub

    outbound = tmp_path / "outbound"
    shutil.copytree(ROOT / "exercises" / MODULE, outbound / MODULE)
    home = tmp_path / "home" / MODULE
    shutil.copytree(ROOT / "exercises" / MODULE, home)
    monkeypatch.setenv("PROXIMAL_HUB_OUTBOUND", str(outbound))
    for name in ("JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    check_on_hub(home / NB)
    out = capsys.readouterr().out
    assert "make_tea" in out and "not started" in out, out
    assert "Total: 0/" in out, out
    assert "submit_and_grade()" in out


def test_a_notebook_being_graded_does_not_submit_itself(tmp_path, monkeypatch, capsys):
    """When the grader runs a notebook whose last cell is submit_and_grade(), does that cell return at once
    instead of handing the notebook in again (which would queue another grading of it, forever)?"""
    from proximal.workshop import notebook

    home = tmp_path / MODULE
    shutil.copytree(ROOT / "exercises" / MODULE, home)
    handed_in: list[Path] = []
    monkeypatch.setattr(notebook, "submit", handed_in.append)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # what nbgrader sets in the kernels it grades with
    notebook.submit_and_grade(str(home / NB), timeout=1)
    assert handed_in == [] and "submit skipped" in capsys.readouterr().out
    monkeypatch.delenv("NBGRADER_EXECUTION")
    monkeypatch.setattr(notebook, "fetch_result", lambda module: None)
    notebook.submit_and_grade(str(home / NB), timeout=0.1, poll=0.05)  # outside grading it does submit
    assert handed_in == [home]
