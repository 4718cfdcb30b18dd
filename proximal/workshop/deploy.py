"""Setting a workshop hub up (and down): folders, Unix users, per-user Jupyter settings, releases.

Everything here runs as root: the hub starts each learner's server as that learner's own Unix
user, so learners cannot read each other's files, the instructor's course folder or the gradebook.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from autograder.notebooks import CourseError
from proximal.workshop.layout import COURSE_ID, Layout, Settings

USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")
COURSE_FILES = ("nbgrader_config.py",)
COURSE_FOLDERS = ("solutions", "exercises")


def proxy_path(course_repo: Path) -> Path:
    """Where the Makefile's set-up step installs configurable-http-proxy (npm, beside the venv)."""
    return course_repo / ".venv" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"


def init_state(
    layout: Layout,
    course_repo: Path,
    ip: str = "127.0.0.1",
    port: int = 8000,
    instructors: list[str] | None = None,
    stuck_after: int = 2,
) -> Settings:
    """Create the state folder (idempotent); keep existing codes and roster; write the settings."""
    _require_root()
    proxy = proxy_path(course_repo)
    if not os.access(proxy, os.X_OK):
        raise CourseError(f"No configurable-http-proxy at {proxy}: run `make hub-deps` (npm) first.")
    layout.state.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.state, 0o755)
    layout.private.mkdir(exist_ok=True)
    os.chmod(layout.private, 0o700)
    layout.exchange.mkdir(exist_ok=True)
    os.chown(layout.exchange, 0, 0)
    os.chmod(layout.exchange, 0o1777)  # nbgrader wants rwx for all; the sticky bit stops deletions
    layout.course.mkdir(exist_ok=True)
    os.chmod(layout.course, 0o700)
    for code in (layout.workshop_code, layout.instructor_code):
        if not code.is_file():
            code.write_text(secrets.token_urlsafe(6) + "\n")
            os.chmod(code, 0o600)
    sync_course(layout, course_repo)
    settings = Settings(
        course_repo=str(course_repo),
        python=sys.executable,
        learner_python=str(learner_python(layout, Path(sys.executable))),
        proxy=str(proxy),
        ip=ip,
        port=port,
        instructors=list(instructors or []),
        stuck_after=stuck_after,
    )
    layout.save_settings(settings)
    return settings


def learner_python(layout: Layout, python: Path) -> Path:
    """An interpreter every learner's Unix user can run, with the course's packages.

    Normally the venv's own. When its base interpreter is out of other users' reach (e.g. a
    Python under /root), a small venv in the state folder is made from the system's Python of
    the same version, and the course venv's site-packages are added to it (a ``.pth`` file), its
    ``share`` and ``etc`` linked (JupyterLab's assets and nbgrader's extensions).
    """
    if _runs_as_nobody(python):
        return python
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    system = Path(f"/usr/bin/python{version}")
    if not system.is_file():
        raise CourseError(
            f"Learners cannot run {python} (its folders are private) and there is no {system}: "
            "install the course where other users can read it."
        )
    runtime = layout.state / "runtime"
    if not (runtime / "bin" / "python").exists():
        subprocess.run(
            [str(system), "-m", "venv", "--without-pip", str(runtime)], check=True, capture_output=True
        )
    venv = python.parent.parent
    site = venv / "lib" / f"python{version}" / "site-packages"
    mine = runtime / "lib" / f"python{version}" / "site-packages"
    (mine / "proximal-course.pth").write_text(f"import site; site.addsitedir({str(site)!r})\n")
    for name in ("share", "etc"):
        link = runtime / name
        if not link.is_symlink():
            if link.exists():
                shutil.rmtree(link)
            link.symlink_to(venv / name)
    return runtime / "bin" / "python"


def _runs_as_nobody(python: Path) -> bool:
    """Can an unprivileged user run ``python``? (Dropping the user id the way JupyterHub's spawner does.)"""

    def drop() -> None:
        os.setgid(65534)
        os.setgroups([])
        os.setuid(65534)

    try:
        done = subprocess.run([str(python), "-c", "pass"], preexec_fn=drop, capture_output=True, cwd="/")
    except PermissionError:
        return False
    return done.returncode == 0


def sync_course(layout: Layout, course_repo: Path, module: str | None = None) -> None:
    """Copy the course's sources and releases (all, or one module) into the instructor's course folder."""
    for name in COURSE_FILES:
        shutil.copy(course_repo / name, layout.course / name)
    for folder in COURSE_FOLDERS:
        names = [module] if module else sorted(p.name for p in (course_repo / folder).iterdir() if p.is_dir())
        for name in names:
            src, dest = course_repo / folder / name, layout.course / folder / name
            if not src.is_dir():
                raise CourseError(f"No {folder}/{name} in {course_repo}.")
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))


def add_users(layout: Layout, learners: Sequence[str] = (), instructors: Sequence[str] = ()) -> list[str]:
    """Create the Unix users that do not exist yet and write their Jupyter settings; return the new ones."""
    _require_root()
    roster = layout.roster()
    created = []
    for name, role in [(n, "learners") for n in learners] + [(n, "instructors") for n in instructors]:
        if not USERNAME.match(name):
            raise CourseError(f"{name!r} is not a valid user name (lower case letters, digits, - and _).")
        if not _user_exists(name):
            subprocess.run(
                ["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name],
                check=True,
                capture_output=True,
            )
            created.append(name)
            roster["created"] = sorted(set(roster.get("created", [])) | {name})
        if name not in roster[role]:
            roster[role].append(name)
        write_user_config(layout, name, instructor=role == "instructors")
    layout.save_roster(roster)
    settings = layout.settings()
    settings.instructors = sorted(set(settings.instructors) | set(roster["instructors"]))
    layout.save_settings(settings)
    if roster["instructors"]:
        own_course(layout, roster["instructors"][0])
    return created


def write_user_config(layout: Layout, name: str, instructor: bool) -> None:
    """Per-user Jupyter settings: the exchange, which nbgrader tools the user sees, no news fetching."""
    user = pwd.getpwnam(name)
    home = Path(user.pw_dir)
    home.mkdir(exist_ok=True)
    os.chmod(home, 0o700)  # nobody else reads a learner's files
    jupyter = home / ".jupyter"
    files: dict[Path, str] = {}
    lines = [
        "c = get_config()  # noqa: F821",
        f"c.CourseDirectory.course_id = {COURSE_ID!r}",
        f"c.Exchange.root = {str(layout.exchange)!r}",
    ]
    if instructor:
        # formgrader works only on a course folder inside the server's root (the home): it builds its
        # links from the course's path relative to that root. A link in the home makes it so.
        course_link = home / "course"
        if not course_link.is_symlink():
            course_link.symlink_to(layout.course, target_is_directory=True)
        os.lchown(course_link, user.pw_uid, user.pw_gid)
        lines += [
            f"load_subconfig({str(layout.course / 'nbgrader_config.py')!r})  # noqa: F821",
            f"c.CourseDirectory.root = {str(course_link)!r}",
            f"c.CourseDirectory.db_url = {'sqlite:///' + str(layout.course / 'gradebook.db')!r}",
        ]
    files[jupyter / "nbgrader_config.py"] = "\n".join(lines) + "\n"
    # learners get the assignment list only; the instructor also formgrader and the course list
    learner_off = (
        {}
        if instructor
        else {
            "nbgrader.server_extensions.formgrader": False,
            "nbgrader.server_extensions.course_list": False,
        }
    )
    files[jupyter / "jupyter_server_config.json"] = json.dumps(
        {"ServerApp": {"jpserver_extensions": learner_off}}, indent=1
    )
    disabled = (
        {}
        if instructor
        else {
            "@jupyter/nbgrader:formgrader": True,
            "@jupyter/nbgrader:course-list": True,
            "@jupyter/nbgrader:create-assignment": True,
        }
    )
    files[jupyter / "labconfig" / "page_config.json"] = json.dumps({"disabledExtensions": disabled}, indent=1)
    news = jupyter / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    files[news / "notification.jupyterlab-settings"] = json.dumps({"fetchNews": "false"})
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for current, dirs, names in os.walk(jupyter):
        for entry in [current, *(os.path.join(current, n) for n in dirs + names)]:
            os.chown(entry, user.pw_uid, user.pw_gid)
    os.chown(home, user.pw_uid, user.pw_gid)


def own_course(layout: Layout, instructor: str) -> None:
    """Give the instructor's course folder to the instructor (formgrader writes the gradebook)."""
    user = pwd.getpwnam(instructor)
    for current, dirs, names in os.walk(layout.course):
        for entry in [current, *(os.path.join(current, n) for n in dirs + names)]:
            os.lchown(entry, user.pw_uid, user.pw_gid)


def release_module(layout: Layout, module: str) -> None:
    """Copy the module from the course checkout, register it in the gradebook, put it in the exchange."""
    from autograder.grade import ensure_assignment
    from autograder.nbgrader_env import nbgrader_api

    settings = layout.settings()
    sync_course(layout, Path(settings.course_repo), module)
    config = exchange_config(layout)
    ensure_assignment(layout.course, config, module)
    result = nbgrader_api(config).release_assignment(module)
    if not result["success"]:
        raise CourseError(f"nbgrader could not release {module}: {result.get('error') or result.get('log')}")
    instructors = layout.roster()["instructors"]
    if instructors:
        own_course(layout, instructors[0])


def exchange_config(layout: Layout):
    """The course's nbgrader config for the instructor's course folder, with the exchange."""
    from autograder.nbgrader_env import course_config

    return course_config(
        layout.course,
        CourseDirectory={"db_url": f"sqlite:///{layout.course / 'gradebook.db'}"},
        Exchange={"root": str(layout.exchange)},
    )


def teardown(layout: Layout) -> list[str]:
    """Delete the Unix users the set-up created (with their homes) and the state folder."""
    _require_root()
    removed = []
    for name in layout.roster().get("created", []):
        if _user_exists(name):
            _kill_processes_of(pwd.getpwnam(name).pw_uid)
            subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
            removed.append(name)
    shutil.rmtree(layout.state, ignore_errors=True)
    return removed


def _kill_processes_of(uid: int) -> None:
    """SIGKILL every process that runs as ``uid`` (a user this set-up created), one pid at a time."""
    import signal

    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    os.kill(int(entry.name), signal.SIGKILL)
            except (ProcessLookupError, FileNotFoundError, PermissionError):
                continue


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _require_root() -> None:
    if os.geteuid() != 0:
        raise CourseError(
            "The workshop hub needs root: it creates one Unix user per learner and starts their servers."
        )
