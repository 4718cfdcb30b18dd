"""Where student code runs during grading: a kernel in its own namespaces, as an unprivileged user, with limits.

Each submission's kernel is started through ``sandbox_kernel.sh`` under
``unshare --mount --net --pid --fork --kill-child --mount-proc``:

* **network**: a fresh network namespace with only its own loopback (a notebook can still start
  the course's local service on 127.0.0.1); the kernel talks to the grader over Unix sockets
  (Jupyter's IPC transport), which need no network;
* **files**: the grading scratch folder of every submission, and the course's ``solutions/``,
  ``submitted/``, ``autograded/``, ``feedback/``, ``.git`` and gradebook are hidden behind empty
  mounts; only the worker's *stage* stays, which holds the notebook being graded and nothing else
  (each submission is moved out before the next one's code runs);
* **processes**: a PID namespace with its own ``/proc``; whatever the notebook starts dies with it;
* **limits**: the kernel runs as an unprivileged user id of its own under ``prlimit`` (address space, process count, file
  size) and ``timeout`` (whole-notebook wall time); nbgrader's per-cell timeout still applies.

A worker starts the kernel for its next submission while it grades the current one (a *spare*,
see :mod:`autograder.kernel_manager`): the two run in different slots, as different users, and
neither can reach the other's sockets or files.

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
    probe = [
        "unshare",
        "--mount",
        "--net",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "--",
        "sh",
        "-c",
        "ip link set lo up && mount -t tmpfs none /mnt && setpriv --reuid=65534 --regid=65534 --clear-groups true",
    ]
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
    uid = str(kernel_uid(SLOTS[0]))
    probe = [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--",
        sys.executable,
        "-c",
        "import ipykernel, autograder.guard, proximal",
    ]
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
    lines = [
        f"per-cell timeout; whole notebook killed after {NOTEBOOK_SECONDS} s",
        f"memory capped at {MEMORY_BYTES / 1024**3:g} GiB of address space",
    ]
    if namespaces_available():
        lines += [
            "no network but the notebook's own loopback",
            "solutions, gradebook and other submissions hidden",
            "no process outlives the notebook",
        ]
        if separate_user_available():
            lines.append(f"runs as an unprivileged user with at most {MAX_PROCESSES} processes")
        else:
            lines.append(
                "MISSING: a separate user and the process limit (other users cannot read this "
                "Python or course folder; make its folders o+rx); runs as root without capabilities"
            )
    else:
        lines += [
            "MISSING on this machine (needs root or user namespaces and util-linux): network isolation, "
            "hidden files, process limit and clean-up of stray processes"
        ]
    return lines


# A worker keeps two kernels at most: the one grading and a spare starting up for the next
# submission. Each slot has its own user id, so the two can never touch each other.
SLOTS = ("a", "b")


def prepare_worker(stage: Path, hide: list[Path]) -> dict[str, dict]:
    """Write this worker's kernel specs (and point its JUPYTER_PATH at them); how to start each slot's kernel.

    ``stage`` is the only grading folder a kernel sees: the notebook being graded is put there
    (``stage/<student>/<assignment>``) and moved out before the next submission's code runs.
    ``hide`` lists what else to hide (the course's secrets, every submission's scratch folder).
    Returns, per slot, the keyword arguments for :class:`autograder.kernel_manager.GradingKernelManager`
    and the user id its kernel runs as (None: the grader's own).
    """
    stage.mkdir(parents=True, exist_ok=True)
    os.chmod(stage, 0o755)  # kernels may enter, not write: a submission cannot leave files for the next
    specs = stage.with_name(stage.name + "-jupyter")
    hide_list = stage.with_name(stage.name + "-hide.txt")
    hide_list.write_text("".join(f"{p}\n" for p in hide))
    slots = {}
    for slot in SLOTS:
        spec_dir = specs / "kernels" / f"grading-{slot}"
        spec_dir.mkdir(parents=True, exist_ok=True)
        uid = kernel_uid(slot) if separate_user_available() else None
        manager = {"kernel_name": f"grading-{slot}"}
        if namespaces_available():
            # the kernel dies with this worker: a killed grader leaves no kernel behind
            argv = [
                "setpriv",
                "--pdeathsig",
                "KILL",
                "--",
                "unshare",
                "--mount",
                "--net",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "--",
                "sh",
                str(SCRIPT),
                str(stage),
                str(hide_list),
                str(MEMORY_BYTES),
                str(NOTEBOOK_SECONDS),
                str(MAX_PROCESSES),
                str(uid or 0),
                slot,
                "{connection_file}",
            ]
            # Unix sockets in the slot's private folder: they cross the network namespace, TCP would not
            manager.update(transport="ipc", ip=str(stage / f".kernel-{slot}" / "ipc"))
        else:
            argv = [sys.executable, "-m", "autograder.kernel", "-f", "{connection_file}"]
            if shutil.which("timeout") and shutil.which("prlimit"):
                argv = [
                    "timeout",
                    "--signal=KILL",
                    str(NOTEBOOK_SECONDS),
                    "prlimit",
                    f"--as={MEMORY_BYTES}",
                    "--",
                    *argv,
                ]
        # interrupts go over the control channel: a signal to the process group would stop at `timeout`
        spec = {
            "argv": argv,
            "display_name": "Python 3 (grading sandbox)",
            "language": "python",
            "interrupt_mode": "message",
            "env": {"PROXIMAL_KERNEL_PYTHON": sys.executable},
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
        slots[slot] = {"manager": manager, "uid": uid}
    # this worker's kernel spec search starts here
    os.environ["JUPYTER_PATH"] = str(specs)
    return slots


def configure(config) -> None:
    """Make an autograde run take its kernels from this worker's slots (see :mod:`autograder.kernel_manager`)."""
    # Killed, not asked to stop: nothing is lost (every output is in), a notebook's exit handlers
    # get no last word, and with namespaces the whole process tree goes at once.
    config.Execute.shutdown_kernel = "immediate"
    config.Execute.kernel_manager_class = "autograder.kernel_manager.GradingKernelManager"


def kernel_uid(slot: str) -> int:
    """An unprivileged user id for one of this worker's kernel slots, unused by anyone else on the machine.

    RLIMIT_NPROC counts every process of a user: kernels sharing ``nobody`` would let one
    submission's process flood stop another's kernel from starting.
    """
    return 200_000 + 2 * os.getpid() + SLOTS.index(slot)


def secret_paths(course_roots: list[Path]) -> list[Path]:
    """The secret folders and files of the given course folders that exist."""
    found = []
    for root in course_roots:
        for name in SECRET_NAMES:
            if (root / name).exists():
                found.append(root / name)
    return found
