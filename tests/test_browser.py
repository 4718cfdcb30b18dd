"""A learner's session in a real browser: JupyterLab + Chromium driven by Playwright.

Skipped unless ``/usr/bin/chromium`` exists and the ``playwright`` Python package is installed
(no browser download: Playwright drives the system Chromium). Screenshots go to ``artifacts/``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
MODULE = "01-asyncio"
NB = "asyncio-exercises.ipynb"
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EXERCISE = "make_tea"  # the warm-up's exercise name (its function is make_tea_async)
MAKE_TEA = (
    "async def make_tea_async(kind: str, steep: float) -> str:\n"
    "    await asyncio.sleep(steep)\n"
    '    return f"a cup of {kind} tea"\n'
)


def _requirements() -> str | None:
    if not CHROMIUM.is_file():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright; no browser download needed)"
    if not (ROOT / "exercises" / MODULE / NB).is_file():
        return f"exercises/{MODULE}/{NB} has not been released"
    return None


pytestmark = pytest.mark.skipif(_requirements() is not None, reason=f"browser test: {_requirements()}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on loopback over a scratch copy of the course; yields (url, token, course folder)."""
    course = tmp_path / "course"
    shutil.copytree(
        ROOT,
        course,
        ignore=shutil.ignore_patterns(
            ".venv",
            ".git",
            "workspace",
            "artifacts",
            "submitted",
            "autograded",
            "feedback",
            "gradebook.db",
            "__pycache__",
            ".pytest_cache",
            ".ipynb_checkpoints",
        ),
    )
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "PROXIMAL_COURSE_ROOT": str(course)}
    for name in (
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTER_RUNTIME_DIR",
        "IPYTHONDIR",
        "MPLCONFIGDIR",
    ):
        env[name] = str(tmp_path / name.lower())
    # Render every cell (JupyterLab 4 only renders cells near the viewport) and skip the news toast.
    settings = tmp_path / "jupyter_config_dir" / "lab" / "user-settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false"}'
    )
    subprocess.run(
        [sys.executable, "-m", "proximal", "workspace"], cwd=course, env=env, check=True, capture_output=True
    )
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={course}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(tmp_path / "jupyter.log", "w")
    server = subprocess.Popen(command, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"JupyterLab exited: {(tmp_path / 'jupyter.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within 120 s")
        yield url, token, course
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_learner_opens_hint_answers_and_checks(lab):
    """Can a learner open the module 01 exercise, click for hint 1, answer, check it instantly and in full, and see the hint measured?"""
    from playwright.sync_api import expect, sync_playwright

    url, token, course = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab/tree/workspace/{MODULE}/{NB}?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        # the status bar reads "Python 3 (ipykernel) | Idle" once the kernel is up
        expect(page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\|\s*Idle"))).to_have_count(
            1, timeout=60_000
        )
        page.screenshot(path=str(ARTIFACTS / "1-opened.png"))
        assert page.locator("details", has_text="Hint 1 of").count() == 0, (
            "no hint text before it is asked for"
        )

        # run the warm-up's hints cell: a button appears; clicking it reveals hint 1 (and records it)
        hints_cell = page.locator(".jp-CodeCell", has_text=f'hints("{EXERCISE}")').first
        hints_cell.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        button = hints_cell.locator("button", has_text="Show hint 1 of")
        expect(button).to_be_visible(timeout=60_000)
        button.click()
        expect(hints_cell.locator(".jp-RenderedMarkdown", has_text="Hint 1 of")).to_be_visible(timeout=30_000)
        expect(hints_cell.locator("button", has_text="Show hint 2 of")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "2-hint.png"))

        # write the warm-up answer in the answer cell (the one that still raises NotImplementedError)
        answer = page.locator(".jp-CodeCell", has_text="raise NotImplementedError").first
        answer.locator(".cm-content").click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(MAKE_TEA)
        page.keyboard.press("Escape")
        page.keyboard.press("Control+S")
        page.screenshot(path=str(ARTIFACTS / "3-answered.png"))

        # run the answer cell, then the final check cell, as the notebook tells the learner to
        # (the locator above now finds the next stub, so find the answer by what was typed)
        page.locator(".jp-CodeCell", has_text="async def make_tea_async").first.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        check_cell = page.locator(".jp-CodeCell", has_text="check()").last
        check_cell.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        try:
            expect(check_cell.locator(".jp-OutputArea-output")).to_contain_text("Total:", timeout=180_000)
        except AssertionError:
            page.screenshot(path=str(ARTIFACTS / "failed.png"), full_page=True)
            raise
        page.screenshot(path=str(ARTIFACTS / "4-checked.png"), full_page=True)
        row = check_cell.locator("tr", has_text=EXERCISE).first.inner_text()
        output = check_cell.locator(".jp-OutputArea-output").inner_text()

        # the instant check of one exercise, in the live kernel
        check_cell.locator(".cm-content").click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(f'from proximal import check\n\ncheck("{EXERCISE}")')
        page.keyboard.press("Shift+Enter")
        # (the cell no longer says "check()": find it by its new text)
        instant = page.locator(".jp-CodeCell", has_text=f'check("{EXERCISE}")').last.locator(
            ".jp-OutputArea-output"
        )
        try:
            expect(instant).to_contain_text("Total: 1/1", timeout=60_000)
        except AssertionError:
            page.screenshot(path=str(ARTIFACTS / "failed-instant.png"), full_page=True)
            raise
        page.screenshot(path=str(ARTIFACTS / "5-instant.png"), full_page=True)
        browser.close()

    assert "passed" in row, row
    assert "fetch_all" in output and "not started" in output
    assert (course / "workspace" / ".progress.json").is_file(), "the check from the notebook records progress"
    env = {**os.environ, "PROXIMAL_COURSE_ROOT": str(course)}
    progress = subprocess.run(
        [sys.executable, "-m", "proximal", "progress"], cwd=course, env=env, capture_output=True, text=True
    ).stdout
    line = next(line for line in progress.splitlines() if f" {EXERCISE} " in line)
    assert "solved after hint 1" in line, progress
