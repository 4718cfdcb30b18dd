"""Where student code runs during grading: a kernel in an allow-list view of the machine, as an unprivileged user, with limits.

Each submission's kernel is started through ``sandbox_kernel.sh``, which (as root, on the host)
prepares the kernel slot's private folder, moves itself into the slot's cgroups and then runs
the kernel under **bubblewrap** (``bwrap``):

* **files (allow-list)**: the kernel's root is a fresh, empty tmpfs. Into it go, read-only, the
  system's programs and libraries (``/usr/bin``, ``/usr/lib``, ...), a handful of ``/etc`` files,
  the Python installation, the virtual environment and the course's own packages; read-write,
  the worker's *stage* (the one notebook folder being graded, see below); a private, size-capped
  ``/tmp``, ``/var/tmp`` and ``/dev/shm``; its own ``/proc`` and a minimal ``/dev``. Nothing else
  of the host exists inside, whatever its permissions: no ``solutions/``, no other clone of the
  course, no ``/srv``, no home folder. Everything written outside the stage is gone with the kernel;
* **network**: a fresh network namespace with only its own loopback (a notebook can still start
  the course's local service on 127.0.0.1); the kernel talks to the grader over Unix sockets
  (Jupyter's IPC transport) in the stage, which need no network;
* **processes**: a PID namespace with its own ``/proc``; whatever the notebook starts dies with it;
* **limits**: per kernel slot, cgroups the grader creates for itself (v1 ``memory``: resident
  memory, ``pids``: processes, ``cpu``: a fair share), plus ``prlimit`` (address space, process
  count, file size) and ``timeout`` (whole-notebook wall time). Where no cgroup can be created,
  a tighter process limit and a CPU-time limit stand in, and :func:`protections` says so.

A worker starts the kernel for its next submission while it grades the current one (a *spare*,
see :mod:`autograder.kernel_manager`): the two run in different slots, as different users, and
neither can reach the other's sockets or files.

Without bubblewrap the older deny-list view is used (``unshare`` with the course's secrets hidden
behind empty mounts) and :func:`protections` names what is missing; without namespaces at all,
grading still works with what is left (limits via ``prlimit``/``timeout``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from traitlets import Integer
from traitlets.config import Configurable


class SandboxLimits(Configurable):
    """The limits every grading kernel runs under (``c.SandboxLimits.*`` in ``nbgrader_config.py``)."""

    memory_bytes = Integer(
        6 * 1024**3,
        help="Address space a kernel may reserve (prlimit --as). Generous: torch and PyG reserve far "
        "more address space than they use, 3 GiB is the least the PyTorch modules run in.",
    ).tag(config=True)
    resident_bytes = Integer(
        3 * 1024**3,
        help="Resident memory a kernel may really use, its /tmp and /dev/shm included (a memory cgroup "
        "per kernel slot, where the grader can create one).",
    ).tag(config=True)
    notebook_seconds = Integer(
        600,
        help="Wall time after which a kernel is killed whatever it does (coreutils timeout); the "
        "grader's own bound per notebook, SurvivingExecute.notebook_timeout, stays inside it.",
    ).tag(config=True)
    max_processes = Integer(
        512, help="Processes a kernel may have at once (a pids cgroup and RLIMIT_NPROC)."
    ).tag(config=True)
    fallback_processes = Integer(
        64,
        help="Processes a kernel may have where no pids cgroup can be created: RLIMIT_NPROC is then "
        "all that bounds a fork bomb, so it is tighter.",
    ).tag(config=True)
    tmp_bytes = Integer(
        256 * 1024**2, help="Size of each of the kernel's private /tmp, /var/tmp and /dev/shm."
    ).tag(config=True)

    def processes(self) -> int:
        """The process limit in force on this machine."""
        return self.max_processes if "pids" in cgroups_available() else self.fallback_processes


SCRIPT = Path(__file__).with_name("sandbox_kernel.sh")
# What a kernel must never read: relative to a course folder (the deny-list fallback hides these).
SECRET_NAMES = ("solutions", "submitted", "autograded", "feedback", ".git", "gradebook.db")
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_CONTROLLERS = ("memory", "pids", "cpu")
# The kernel's view of /etc: what the C library, Python and matplotlib read; no accounts, no secrets.
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/fonts",
    "/etc/alternatives",
    "/etc/mime.types",
)
# System folders shared read-only (not /usr/local or /usr/src, where a course could be checked out).
SYSTEM_DIRS = (
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/share",
    "/usr/include",
)


# What the probes below found, per PROXIMAL_SANDBOX setting: each is a subprocess (the second
# starts a Python), so a batch probes once and hands the answers to its workers (see adopt).
_probed: dict[tuple[str, str | None], bool] = {}


def _cached(name: str, probe) -> bool:
    key = (name, os.environ.get("PROXIMAL_SANDBOX"))
    if key not in _probed:
        _probed[key] = probe()
    return _probed[key]


def namespaces_available() -> bool:
    """Can this machine start the kernel in new mount/net/PID namespaces (bubblewrap or unshare)?"""
    return _cached("namespaces", lambda: bubblewrap_available() or _probe_unshare())


def bubblewrap_available() -> bool:
    """Can bubblewrap build the kernel's allow-list view here?"""
    return _cached("bubblewrap", _probe_bubblewrap)


def _probe_bubblewrap() -> bool:
    if os.environ.get("PROXIMAL_SANDBOX") in ("off", "unshare") or not shutil.which("bwrap"):
        return False
    if not all(shutil.which(t) for t in ("setpriv", "prlimit", "timeout")):
        return False
    try:
        return (
            subprocess.run(
                [*_bwrap_args("/", SandboxLimits().tmp_bytes), "--", "true"], capture_output=True, timeout=30
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def _probe_unshare() -> bool:
    tools = ("unshare", "ip", "mount", "setpriv", "prlimit", "timeout")
    if os.environ.get("PROXIMAL_SANDBOX") == "off" or not all(shutil.which(t) for t in tools):
        return False
    probe = [
        *("unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--"),
        *("sh", "-c"),
        "ip link set lo up && mount -t tmpfs none /mnt && setpriv --reuid=65534 --regid=65534 --clear-groups true",
    ]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def separate_user_available() -> bool:
    """Can a kernel run as an unprivileged user id here? Only if that user can read this Python and the course.

    In bubblewrap's view every folder leading to the Python and the course is the sandbox's own
    (mode 755), so only the files themselves must be readable. Without bubblewrap, a course
    checked out under a private folder (mode 700, e.g. a home directory) cannot be read by
    another user; the kernel then runs as root with every capability dropped instead.
    """
    return _cached("separate-user", _probe_separate_user)


def _probe_separate_user() -> bool:
    if not namespaces_available() or os.environ.get("PROXIMAL_SANDBOX") == "no-user":
        return False
    uid = str(kernel_uid(SLOTS[0]))
    check = [sys.executable, "-c", "import ipykernel, autograder.guard, proximal"]
    as_user = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    probe = (
        [*_bwrap_args("/", SandboxLimits().tmp_bytes), "--", *as_user, *check]
        if bubblewrap_available()
        else [*as_user, *check]
    )
    try:
        return subprocess.run(probe, capture_output=True, timeout=60, cwd="/").returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def cgroups_available() -> list[str]:
    """The cgroup controllers (of :data:`CGROUP_CONTROLLERS`) in which the grader can create cgroups of its own."""
    return [c for c in CGROUP_CONTROLLERS if _cached(f"cgroup-{c}", lambda c=c: _probe_cgroup(c))]


def _own_cgroup(controller: str) -> Path | None:
    """The folder of this process's cgroup in a v1 controller's hierarchy (None: not mounted)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            folder = CGROUP_ROOT / controller / path.lstrip("/")
            return folder if folder.is_dir() else None
    return None


def _probe_cgroup(controller: str) -> bool:
    if os.environ.get("PROXIMAL_SANDBOX") in ("off", "no-cgroup") or not bubblewrap_available():
        return False
    own = _own_cgroup(controller)
    if own is None:
        return False
    probe = own / f"proximal-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError:
        return False
    return True


def probe() -> dict[tuple[str, str | None], bool]:
    """Run every probe (for the current PROXIMAL_SANDBOX setting); the answers, for :func:`adopt`."""
    namespaces_available()
    separate_user_available()
    cgroups_available()
    return dict(_probed)


def adopt(answers: dict[tuple[str, str | None], bool]) -> None:
    """Take the probe answers of the process that started this one (a grading worker's initializer)."""
    _probed.update(answers)


def protections(limits: SandboxLimits | None = None) -> list[str]:
    """One line per protection in force (under ``limits``), and per protection this machine cannot give."""
    limits = limits or SandboxLimits()
    lines = [
        f"per-cell timeout, a cell that ignores it killed after a grace; whole notebook killed after {limits.notebook_seconds} s",
        f"memory capped at {limits.memory_bytes / 1024**3:g} GiB of address space",
        "tests count only if they ran to their end (completion secret), guard audit hook",
    ]
    if not namespaces_available():
        return lines + [
            "MISSING on this machine (needs root or user namespaces and util-linux): network isolation, "
            "hidden files, process limit and clean-up of stray processes"
        ]
    lines += ["no network but the notebook's own loopback", "no process outlives the notebook"]
    if bubblewrap_available():
        lines.append(
            "allow-list view (bubblewrap): only Python, the course's packages and the notebook's folder; "
            "private /tmp, /var/tmp, /dev/shm"
        )
    else:
        lines.append(
            "MISSING: bubblewrap (apt-get install bubblewrap): deny-list only, solutions, gradebook and "
            "other submissions hidden but the rest of the machine readable"
        )
    groups = cgroups_available()
    if "memory" in groups:
        lines.append(f"resident memory capped at {limits.resident_bytes / 1024**3:g} GiB (cgroup)")
    if "cpu" in groups:
        lines.append("a fair CPU share per kernel (cgroup)")
    if "pids" in groups:
        lines.append(f"at most {limits.max_processes} processes (cgroup)")
    missing = [c for c in CGROUP_CONTROLLERS if c not in groups]
    if missing:
        lines.append(
            f"MISSING: cgroup {', '.join(missing)} (none the grader can create): "
            f"fallback of at most {limits.fallback_processes} processes and {limits.notebook_seconds} s of CPU "
            "time per process"
        )
    if separate_user_available():
        lines.append(f"runs as an unprivileged user with at most {limits.processes()} processes")
    else:
        lines.append(
            "MISSING: a separate user and the process limit (other users cannot read this "
            "Python or course folder; make its folders o+rx); runs as root without capabilities"
        )
    return lines


# A worker keeps two kernels at most: the one grading and a spare starting up for the next
# submission. Each slot has its own user id, so the two can never touch each other.
SLOTS = ("a", "b")


def _allowed_paths() -> list[str]:
    """What the kernel may read besides the system: the Python installation, the venv, the course's packages."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    for package in ("autograder", "proximal"):
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            paths.add(os.path.realpath(location))
    return sorted(paths)


def _bwrap_args(stage: str, tmp_bytes: int) -> list[str]:
    """bubblewrap's options for the kernel's view (without the command); ``stage`` is bound read-write."""
    args = [
        "bwrap",
        *("--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"),
        "--die-with-parent",
        "--new-session",
        *("--hostname", "grading"),
    ]
    # folders bubblewrap makes take the caller's umask: the kernel's user must enter them
    for folder in ("/usr", "/etc", "/var"):
        args += ["--perms", "0755", "--dir", folder]
    # private, size-capped scratch first: a stage under /tmp is bound on top of it below
    for folder in ("/tmp", "/var/tmp"):
        args += ["--size", str(tmp_bytes), "--perms", "1777", "--tmpfs", folder]
    for folder in SYSTEM_DIRS:
        if os.path.isdir(folder) and not os.path.islink(folder):
            args += ["--ro-bind", folder, folder]
    for name in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    for name in ETC_FILES:
        args += ["--ro-bind-try", name, name]
    binds = _allowed_paths() + ([stage] if stage != "/" else [])
    made: set[str] = {"/", "/usr", "/etc", "/tmp", "/var", "/var/tmp", "/dev", "/proc"}
    for path in binds:  # every folder on the way: the sandbox's own, mode 755, whatever the host's are
        for parent in reversed(Path(path).parents):
            if str(parent) not in made:
                made.add(str(parent))
                args += ["--perms", "0755", "--dir", str(parent)]
    for path in _allowed_paths():
        args += ["--ro-bind", path, path]
    if stage != "/":
        args += ["--bind", stage, stage]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--size", str(tmp_bytes), "--perms", "1777", "--tmpfs", "/dev/shm"]
    return args


def prepare_worker(stage: Path, hide: list[Path], limits: SandboxLimits) -> dict[str, dict]:
    """Write this worker's kernel specs (and point its JUPYTER_PATH at them); how to start each slot's kernel.

    ``stage`` is the only grading folder a kernel sees: the notebook being graded is put there
    (``stage/<student>/<assignment>``) and moved out before the next submission's code runs.
    ``hide`` lists what else to hide where bubblewrap is missing (the course's secrets, every
    submission's scratch folder). Returns, per slot, the keyword arguments for
    :class:`autograder.kernel_manager.GradingKernelManager`, the user id its kernel runs as (None:
    the grader's own) and its cgroup folders.
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
        groups: list[str] = []
        if bubblewrap_available():
            groups = [str(p) for p in _make_cgroups(slot, limits)]
            private = stage / f".kernel-{slot}"
            rlimits = [f"--as={limits.memory_bytes}", f"--nproc={limits.processes()}"]
            rlimits.append(f"--fsize={256 * 1024**2}")
            if "cpu" not in cgroups_available():
                rlimits.append(f"--cpu={limits.notebook_seconds}")
            as_user = (
                [f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
                if uid
                else ["--bounding-set=-all", "--no-new-privs"]
            )
            inner = [
                *_bwrap_args(str(stage), limits.tmp_bytes),
                *("--chdir", str(stage)),
                "--",
                *("timeout", "--signal=KILL", str(limits.notebook_seconds)),
                *("prlimit", *rlimits, "--"),
                *("setpriv", *as_user, "--inh-caps=-all", "--"),
                *("env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "MPLBACKEND=Agg"),
                *("OMP_NUM_THREADS=1", "HOME=/tmp", "IPYTHONDIR=/tmp/.ipython"),
                *("MPLCONFIGDIR=/tmp/.mpl", "JUPYTER_RUNTIME_DIR=/tmp/.jupyter"),
                *(sys.executable, "-m", "autograder.kernel", "-f", str(private / "connection.json")),
            ]
            argv = [
                *("setpriv", "--pdeathsig", "KILL", "--"),
                *("sh", str(SCRIPT), "bwrap", str(stage), str(uid or 0), slot, ":".join(groups) or "-"),
                "{connection_file}",
                *inner,
            ]
            manager.update(transport="ipc", ip=str(private / "ipc"))
        elif namespaces_available():
            # the kernel dies with this worker: a killed grader leaves no kernel behind
            argv = [
                *("setpriv", "--pdeathsig", "KILL", "--"),
                *("unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--"),
                *("sh", str(SCRIPT), "unshare", str(stage), str(hide_list), str(limits.memory_bytes)),
                *(
                    str(limits.notebook_seconds),
                    str(limits.max_processes),
                    str(uid or 0),
                    slot,
                    "{connection_file}",
                ),
            ]
            # Unix sockets in the slot's private folder: they cross the network namespace, TCP would not
            manager.update(transport="ipc", ip=str(stage / f".kernel-{slot}" / "ipc"))
        else:
            argv = [sys.executable, "-m", "autograder.kernel", "-f", "{connection_file}"]
            if shutil.which("timeout") and shutil.which("prlimit"):
                argv = [
                    *("timeout", "--signal=KILL", str(limits.notebook_seconds)),
                    *("prlimit", f"--as={limits.memory_bytes}", "--"),
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
        slots[slot] = {"manager": manager, "uid": uid, "cgroups": groups}
    # this worker's kernel spec search starts here
    os.environ["JUPYTER_PATH"] = str(specs)
    return slots


def _make_cgroups(slot: str, limits: SandboxLimits) -> list[Path]:
    """This worker's cgroups for one kernel slot (created here, never a cgroup the grader did not create)."""
    made = []
    for controller in cgroups_available():
        own = _own_cgroup(controller)
        if own is None:
            continue
        _remove_stale(own)
        folder = own / f"proximal-{os.getpid()}-{slot}"
        try:
            folder.mkdir(exist_ok=True)
            if controller == "memory":
                (folder / "memory.limit_in_bytes").write_text(str(limits.resident_bytes))
                swap = folder / "memory.memsw.limit_in_bytes"
                if swap.exists():
                    swap.write_text(str(limits.resident_bytes))
            elif controller == "pids":
                # headroom over the per-user limit for the kernel's own threads: a flood of
                # processes meets RLIMIT_NPROC first, the cgroup bounds what escapes it (root kernels)
                (folder / "pids.max").write_text(str(limits.max_processes + 128))
        except OSError:
            continue
        made.append(folder)
    return made


def _remove_stale(own: Path) -> None:
    """Remove the slot cgroups of grading workers that were killed (their pid is gone)."""
    for folder in own.glob("proximal-*-[ab]"):
        pid = folder.name.split("-")[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            remove_cgroups({"stale": {"cgroups": [str(folder)]}})


def remove_cgroups(slots: dict[str, dict]) -> None:
    """Kill what is left in this worker's cgroups and remove them (a worker's last act)."""
    for slot in slots.values():
        for folder in map(Path, slot.get("cgroups", [])):
            for _ in range(50):
                try:
                    pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                try:
                    folder.rmdir()
                    break
                except OSError:
                    time.sleep(0.02)


def configure(config) -> None:
    """Make an autograde run take its kernels from this worker's slots (see :mod:`autograder.kernel_manager`)."""
    # Killed, not asked to stop: nothing is lost (every output is in), a notebook's exit handlers
    # get no last word, and with namespaces the whole process tree goes at once.
    config.Execute.shutdown_kernel = "immediate"
    # the grader's own bound stays inside the sandbox's, which runs from the kernel's (earlier) start
    seconds = SandboxLimits(config=config).notebook_seconds
    config.SurvivingExecute.notebook_timeout = max(seconds - 60, seconds / 2)
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
