"""The workshop's grading service: a JupyterHub-managed service that grades each submission as it arrives.

Started by the hub (``c.JupyterHub.services``; the hub restarts it if it exits). It watches the
exchange's inbound folder, grades one submission at a time, oldest first, with
:mod:`proximal.workshop.gradejob` (the course's engine), and records every step in its ledger
(:mod:`proximal.workshop.inbox`), from which it resumes after a crash. Its pages, behind the hub's
login (``HubOAuthenticated``):

* ``dashboard``: the instructor's live "where is the class stuck" page (instructor scope only);
* ``api/dashboard``: the same as JSON (instructor scope only);
* ``api/results/MODULE``: the caller's own latest result (instructors: any ``?student=``);
* ``feedback/STUDENT/MODULE``: that learner's feedback page (the learner and instructors only).

Anybody else gets 403 Forbidden.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop

from proximal.workshop.dashboard import (
    board,
    feedback_html,
    learner_result,
    module_in_progress,
    render_fragment,
    render_page,
)
from proximal.workshop.inbox import GRADE, Ledger, latest, plan, scan, superseded
from proximal.workshop.layout import INSTRUCTOR_SCOPE, Layout, from_env

log = logging.getLogger("proximal.grader")


class Grader:
    """One submission at a time, oldest first, by a warm grader in a PID namespace that dies with this process."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.settings = layout.settings()
        self.ledger = Ledger(layout.ledger)
        self.current: str | None = None
        self.pending = 0
        self._board: tuple | None = None
        self._warm: asyncio.subprocess.Process | None = None
        self.scratch = layout.state / "jobs"

    def board(self, module: str) -> dict:
        """The dashboard's data, recomputed only when the ledger has changed (reading it costs CPU grading needs)."""
        try:
            stat = self.layout.ledger.stat()
            key = (module, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            key = (module, 0, 0)
        if self._board is None or self._board[0] != key:
            self._board = (key, board(self.layout, module, self.settings.stuck_after))
        return self._board[1]

    def in_gradebook(self) -> dict:
        """(student, assignment) -> (the gradebook's submission timestamp, the secret in submitted/)."""
        from nbgrader.api import Gradebook

        db = self.layout.course / "gradebook.db"
        out: dict = {}
        if not db.is_file():
            return out
        with Gradebook(f"sqlite:///{db}") as gb:
            for assignment in gb.assignments:
                for sub in assignment.submissions:
                    secret = self.layout.course / "submitted" / sub.student.id / assignment.name
                    secret = secret / "submission_secret.txt"
                    text = secret.read_text().strip() if secret.is_file() else ""
                    out[(sub.student.id, assignment.name)] = (sub.timestamp, text)
        return out

    def next_job(self):
        entries = scan(self.layout.inbound)
        for entry in superseded(entries, self.ledger):
            self.ledger.append("superseded", entry)
        done = self.ledger.done()
        if all(e.name in done for e in latest(entries).values()):
            self.pending = 0
            return None
        work = plan(entries, self.ledger, self.in_gradebook())
        self.pending = len(work)
        return work[0] if work else None

    async def run(self) -> None:
        while True:
            try:
                job = self.next_job()
                if job is None:
                    await self.warm_grader()  # ready before the next submission arrives
                    await asyncio.sleep(self.settings.poll_seconds)
                    continue
                await self.process(*job)
            except Exception:  # keep serving: the next scan retries
                log.exception("grading loop")
                await asyncio.sleep(self.settings.poll_seconds)

    async def warm_grader(self) -> asyncio.subprocess.Process:
        """The warm grader (:mod:`proximal.workshop.gradejob`), started again if it has ended."""
        if self._warm is not None and self._warm.returncode is None:
            return self._warm
        command = [
            "setpriv",
            "--pdeathsig",
            "KILL",
            "--",
            "unshare",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--",
            sys.executable,
            "-m",
            "proximal.workshop.gradejob",
        ]
        # its scratch folders: a killed grader cannot clean up, so they are removed here
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(mode=0o755)
        with open(self.layout.private / "gradejob.log", "ab") as errors:
            self._warm = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
                env={**os.environ, "TMPDIR": str(self.scratch)},
                limit=2**22,
            )
        ready = await self._warm.stdout.readline()  # type: ignore[union-attr]
        if not ready:
            code = await self._warm.wait()
            raise RuntimeError(f"the warm grader exited with status {code} before it was ready")
        log.info("warm grader ready (pid %s)", self._warm.pid)
        return self._warm

    async def stop_grader(self) -> int | None:
        """End the warm grader (if it is still running, it answered nonsense); its exit status."""
        grader, self._warm = self._warm, None
        if grader is None:
            return None
        if grader.returncode is None:
            grader.kill()
        return await grader.wait()

    async def process(self, action: str, entry) -> None:
        self.current = entry.name
        self.ledger.append("started", entry, action=action)
        try:
            grader = await self.warm_grader()
            request = {"entry": entry.name, "release_only": action != GRADE}
            grader.stdin.write(json.dumps(request).encode() + b"\n")  # type: ignore[union-attr]
            await grader.stdin.drain()  # type: ignore[union-attr]
            line = await grader.stdout.readline()  # type: ignore[union-attr]
        except (OSError, RuntimeError) as exc:  # it died before or while taking the request
            line, failure = b"", repr(exc)
        else:
            failure = ""
        try:
            result = json.loads(line)
        except ValueError:
            code = await self.stop_grader()
            result = {"graded": False, "notes": [failure or f"the grading job exited with status {code}"]}
        event = "graded" if result.get("graded") else "failed"
        self.ledger.append(
            event, entry, action=action, **{k: result.get(k) for k in ("score", "max_score", "notes")}
        )
        log.info("%s %s: %s", event, entry.name, result)
        self.current = None


class Base(HubOAuthenticated, web.RequestHandler):
    @property
    def layout(self) -> Layout:
        return self.settings["layout"]

    def is_instructor(self) -> bool:
        return INSTRUCTOR_SCOPE in (self.current_user or {}).get("scopes", [])

    def require_instructor(self) -> None:
        if not self.is_instructor():
            raise web.HTTPError(403, "forbidden: instructors only")

    def module(self) -> str:
        module = self.get_argument("module", None) or module_in_progress(self.layout)
        if not module:
            raise web.HTTPError(404, "no module has been released yet")
        return module

    def write_error(self, status_code: int, **kwargs) -> None:
        reason = {403: "Forbidden", 404: "Not found"}.get(status_code, self._reason)
        self.finish(f"<!doctype html><title>{status_code} {reason}</title><h1>{status_code}: {reason}</h1>")


class DashboardPage(Base):
    @web.authenticated
    def get(self) -> None:
        self.require_instructor()
        data = self.settings["grader"].board(self.module())
        fragment = self.settings["prefix"] + "dashboard/fragment?module=" + data["module"]
        self.finish(render_page(data, fragment, self.xsrf_token.decode()))


class DashboardFragment(Base):
    @web.authenticated
    def get(self) -> None:
        self.require_instructor()
        self.finish(render_fragment(self.settings["grader"].board(self.module())))


class DashboardJSON(Base):
    @web.authenticated
    def get(self) -> None:
        self.require_instructor()
        grader = self.settings["grader"]
        data = dict(grader.board(self.module()))
        data["queue"] = {"grading": grader.current, "pending": grader.pending}
        self.finish(data)


class Results(Base):
    @web.authenticated
    def get(self, module: str) -> None:
        student = self.get_argument("student", None) or self.current_user["name"]
        if student != self.current_user["name"]:
            self.require_instructor()
        self.finish({"result": learner_result(self.layout, student, module)})


class Feedback(Base):
    @web.authenticated
    def get(self, student: str, module: str) -> None:
        if student != self.current_user["name"]:
            self.require_instructor()
        page = feedback_html(self.layout, student, module)
        if page is None:
            raise web.HTTPError(404, "no feedback yet")
        self.finish(page)


class Home(Base):
    @web.authenticated
    def get(self) -> None:
        if self.is_instructor():
            self.redirect(self.settings["prefix"] + "dashboard")
        else:
            self.finish("<p>Your results appear in your notebook after <code>submit_and_grade()</code>.</p>")


def make_app(layout: Layout, grader: Grader, prefix: str) -> web.Application:
    return web.Application(
        [
            (prefix, Home),
            (prefix + "oauth_callback", HubOAuthCallbackHandler),
            (prefix + "dashboard", DashboardPage),
            (prefix + "dashboard/fragment", DashboardFragment),
            (prefix + "api/dashboard", DashboardJSON),
            (prefix + r"api/results/([^/]+)", Results),
            (prefix + r"feedback/([^/]+)/([^/]+)", Feedback),
        ],
        layout=layout,
        grader=grader,
        prefix=prefix,
        cookie_secret=os.urandom(32),
    )


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="[grader %(asctime)s] %(message)s")
    layout = from_env()
    (layout.private / "grader.pid").write_text(str(os.getpid()))
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/grader/")
    url = urlparse(
        os.environ.get("JUPYTERHUB_SERVICE_URL", f"http://127.0.0.1:{layout.settings().grader_port}")
    )
    grader = Grader(layout)
    HTTPServer(make_app(layout, grader, prefix)).listen(url.port or 80, url.hostname)
    loop = IOLoop.current()
    loop.spawn_callback(grader.run)
    log.info("grading service on %s%s", url.geturl(), prefix)
    loop.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
