"""Where student code runs during grading: a kernel in its own namespaces, as an unprivileged user, with limits.

Each submission's kernel is started through ``sandbox_kernel.sh`` under
``unshare --mount --net --pid --fork --kill-child --mount-proc``:

* **network**: a fresh network namespace with only its own loopback (a notebook can still start
  the course's local service on 127.0.0.1); the kernel talks to the grader over Unix sockets
  (Jupyter's IPC transport), which need no network;
* **files**: the grading scratch folder of every submission, and the course's ``solutions/``,
  ``submitted/``, ``autograded/``, ``feedback/``, ``.git`` and gradebook are hidden behind empty
  mounts; only the submission's own autograded folder stays;
* **processes**: a PID namespace with its own ``/proc``; whatever the notebook starts dies with it;
* **limits**: the kernel runs as an unprivileged user id of its own under ``prlimit`` (address space, process count, file
  size) and ``timeout`` (whole-notebook wall time); nbgrader's per-cell timeout still applies.

Where the machine cannot create namespaces (not root, no user namespaces), grading still works
with what is left (limits via ``prlimit``/``timeout``) and :func:`protections` says what is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

# Generous for the heaviest notebook (torch + PyG reserve a lot of address space); override per machine.
MEMORY_BYTES = int(os.environ.get("PROXIMAL_SANDBOX_MEMORY", 6 * 1024**3))
NOTEBOOK_SECONDS = int(os.environ.get("PROXIMAL_SANDBOX_SECONDS", 600))
MAX_PROCESSES = int(os.environ.get("PROXIMAL_SANDBOX_NPROC", 512))
SCRIPT = Path(__file__).with_name("sandbox_kernel.sh")
# What a kernel must never read: relative to a course folder.
SECRET_NAMES = ("solutions", "submitted", "autograded", "feedback", ".git", "gradebook.db")


# What the probes below found, per PROXIMAL_SANDBOX setting: each is a subprocess (the second
# starts a Python), so a batch probes once and hands the answers to its workers (see adopt).
_probed: dict[tuple[str, str | None], bool] = {}


def _cached(name: str, probe) -> bool:
    key = (name, os.environ.get("PROXIMAL_SANDBOX"))
    if key not in _probed:
        _probed[key] = probe()
    return _probed[key]


def namespaces_available() -> bool:
    """Can this machine start the kernel in new mount/net/PID namespaces as an unprivileged user?"""
    return _cached("namespaces", _probe_namespaces)


def _probe_namespaces() -> bool:
    tools = ("unshare", "ip", "mount", "setpriv", "prlimit", "timeout")
    if os.environ.get("PROXIMAL_SANDBOX") == "off" or not all(shutil.which(t) for t in tools):
        return False
    probe = ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--",
             "sh", "-c", "ip link set lo up && mount -t tmpfs none /mnt && setpriv --reuid=65534 --regid=65534 --clear-groups true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def separate_user_available() -> bool:
    """Can a kernel run as an unprivileged user id here? Only if that user can read this Python and the course.

    A course checked out under a private folder (mode 700, e.g. a home directory) cannot be
    read by another user; the kernel then runs as root with every capability dropped instead.
    """
    return _cached("separate-user", _probe_separate_user)


def _probe_separate_user() -> bool:
    if not namespaces_available() or os.environ.get("PROXIMAL_SANDBOX") == "no-user":
        return False
    uid = str(kernel_uid())
    probe = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
             sys.executable, "-c", "import ipykernel, autograder.guard, proximal"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=60, cwd="/").returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def probe() -> dict[tuple[str, str | None], bool]:
    """Run both probes (for the current PROXIMAL_SANDBOX setting); the answers, for :func:`adopt`."""
    namespaces_available()
    separate_user_available()
    return dict(_probed)


def adopt(answers: dict[tuple[str, str | None], bool]) -> None:
    """Take the probe answers of the process that started this one (a grading worker's initializer)."""
    _probed.update(answers)


def protections() -> list[str]:
    """One line per protection in force, and per protection this machine cannot give."""
    lines = [f"per-cell timeout; whole notebook killed after {NOTEBOOK_SECONDS} s",
             f"memory capped at {MEMORY_BYTES / 1024**3:g} GiB of address space"]
    if namespaces_available():
        lines += ["no network but the notebook's own loopback",
                  "solutions, gradebook and other submissions hidden", "no process outlives the notebook"]
        if separate_user_available():
            lines.append(f"runs as an unprivileged user with at most {MAX_PROCESSES} processes")
        else:
            lines.append("MISSING: a separate user and the process limit (other users cannot read this "
                         "Python or course folder; make its folders o+rx); runs as root without capabilities")
    else:
        lines += ["MISSING on this machine (needs root or user namespaces and util-linux): network isolation, "
                  "hidden files, process limit and clean-up of stray processes"]
    return lines


def configure(config, private_root: Path, hide: list[Path]) -> None:
    """Make the kernels of this worker's next autograde run sandboxed (sets the worker's JUPYTER_PATH).

    ``private_root`` is the submission's scratch course; ``hide`` lists further folders to hide
    (the real course's secrets, every submission's scratch folder).
    """
    kernel_dir = private_root / "autograded"
    kernel_dir.mkdir(parents=True, exist_ok=True)
    spec_dir = private_root / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    if namespaces_available():
        hide_list = private_root / "hide.txt"
        hide_list.write_text("".join(f"{p}\n" for p in hide))
        argv = ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--",
                "sh", str(SCRIPT), str(kernel_dir), str(hide_list), str(MEMORY_BYTES), str(NOTEBOOK_SECONDS),
                str(MAX_PROCESSES), str(kernel_uid() if separate_user_available() else 0), "{connection_file}"]
        # Unix sockets inside the kernel's folder: they cross the network namespace, TCP would not
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(kernel_dir / ".ipc")
    else:
        argv = ["timeout", "--signal=KILL", str(NOTEBOOK_SECONDS), "prlimit", f"--as={MEMORY_BYTES}", "--",
                sys.executable, "-m", "autograder.kernel", "-f", "{connection_file}"]
        if not shutil.which("timeout") or not shutil.which("prlimit"):
            argv = [sys.executable, "-m", "autograder.kernel", "-f", "{connection_file}"]
    # Killed, not asked to stop: nothing is lost (every output is in), a notebook's exit handlers
    # get no last word, and with namespaces the whole process tree goes at once.
    config.Execute.shutdown_kernel = "immediate"
    # jupyter_client's own, without its fixed pauses at start and after a kill
    config.Execute.kernel_manager_class = "autograder.kernel_manager.GradingKernelManager"
    # interrupts go over the control channel: a signal to the process group would stop at `timeout`
    spec = {"argv": argv, "display_name": "Python 3 (grading sandbox)", "language": "python",
            "interrupt_mode": "message",
            "env": {"PROXIMAL_KERNEL_PYTHON": sys.executable}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    # this worker's kernel spec search starts here, so "python3" resolves to the sandboxed one
    os.environ["JUPYTER_PATH"] = str(private_root / "jupyter")


def kernel_uid() -> int:
    """An unprivileged user id for this worker's kernels, unused by anyone else on the machine.

    RLIMIT_NPROC counts every process of a user: kernels sharing ``nobody`` would let one
    submission's process flood stop another's kernel from starting.
    """
    return 200_000 + os.getpid()


def secret_paths(course_roots: list[Path]) -> list[Path]:
    """The secret folders and files of the given course folders that exist."""
    found = []
    for root in course_roots:
        for name in SECRET_NAMES:
            if (root / name).exists():
                found.append(root / name)
    return found
