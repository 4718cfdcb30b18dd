"""How a learner's server starts: as the learner's own Unix user, with the course's secrets hidden.

:class:`WorkshopSpawner` is JupyterHub's ``LocalProcessSpawner`` (one process per user, run as
that Unix user) plus a private mount namespace entered before the user id is dropped: the course
checkout's ``solutions/``, ``.git`` and grading folders, and the instructor's course folder, are
covered by empty read-only mounts, so a learner's server and everything it starts cannot read the
hidden tests even though the course package is installed from that checkout. If the namespace
cannot be made, the server does not start (fail closed).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner

from autograder.sandbox import secret_paths
from proximal.workshop.layout import SERVICE_NAME, from_env

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18


def hidden_paths(instructor: bool) -> list[Path]:
    """What a user's server must not see: the checkout's secrets; for learners also the course folder and the hub's state."""
    layout = from_env()
    repo = Path(layout.settings().course_repo)
    found = secret_paths([repo]) + git_folders(repo)
    if not instructor:
        found += [layout.course, layout.private]
    return found


def git_folders(repo: Path) -> list[Path]:
    """Where a worktree's history really lives (its ``.git`` is a file naming it): the history has the solutions."""
    dot_git = repo / ".git"
    if not dot_git.is_file():
        return []
    text = dot_git.read_text().strip()
    if not text.startswith("gitdir:"):
        return []
    gitdir = (repo / text.removeprefix("gitdir:").strip()).resolve()
    found = [gitdir]
    common = gitdir / "commondir"
    if common.is_file():
        found.append((gitdir / common.read_text().strip()).resolve())
    return [p for p in found if p.exists()]


def private_mounts(hide: list[Path]):
    """A function for ``preexec_fn``: new mount namespace, nothing propagates back, ``hide`` covered."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)  # loaded before the fork
    targets = [(os.fsencode(p), p.is_dir()) for p in hide]

    def check(result: int, what: str) -> None:
        if result != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")

    def enter() -> None:
        check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
        for target, is_dir in targets:
            if is_dir:
                flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
                check(libc.mount(b"tmpfs", target, b"tmpfs", flags, b"size=4k,mode=000"), f"hide {target!r}")
            else:
                check(libc.mount(b"/dev/null", target, None, MS_BIND, None), f"hide {target!r}")

    return enter


class WorkshopSpawner(LocalProcessSpawner):
    """LocalProcessSpawner in a private mount namespace that hides the course's secrets."""

    def make_preexec_fn(self, name: str):
        layout = from_env()
        instructor = name in layout.roster()["instructors"]
        enter = private_mounts(hidden_paths(instructor))
        drop = super().make_preexec_fn(name)

        def preexec() -> None:
            enter()  # as root, before the user id is dropped
            drop()

        return preexec

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        layout = from_env()
        settings = layout.settings()
        venv_bin = str(Path(settings.learner_python).parent)
        env.update(
            {
                "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
                "PROXIMAL_HUB": "1",
                "PROXIMAL_HUB_OUTBOUND": str(layout.outbound),
                "PROXIMAL_GRADER_URL": f"http://127.0.0.1:{settings.grader_port}/services/{SERVICE_NAME}/",
            }
        )
        return env
