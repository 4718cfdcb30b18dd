"""The grader's contract with jupyter_client, nbclient, nbconvert and nbgrader (autograder.adapters)."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
from pathlib import Path

from autograder.adapters import SUPPORTED_VERSIONS, QuickPollKernelManager, unsupported_versions

ROOT = Path(__file__).resolve().parent.parent
ADAPTER = ROOT / "autograder" / "adapters.py"
LIBRARY_MODULES = (
    "jupyter_client.manager",
    "jupyter_client.client",
    "jupyter_client.asynchronous",
    "jupyter_client.kernelspec",
    "nbclient.client",
    "nbconvert.preprocessors",
    "nbconvert.exporters",
    "nbgrader.preprocessors",
    "nbgrader.converters",
    "nbgrader.api",
    "nbgrader.apps",
    "nbgrader.coursedir",
    "nbgrader.utils",
    "nbgrader.plugins.export",
)


def library_private_names() -> set[str]:
    """Underscore names (not dunders) of the libraries' modules and of the classes they define."""
    names: set[str] = set()
    for module_name in LIBRARY_MODULES:
        module = importlib.import_module(module_name)
        for attr, value in vars(module).items():
            if attr.startswith("_") and not attr.startswith("__"):
                names.add(attr)
            if inspect.isclass(value) and value.__module__.split(".")[0] == module_name.split(".")[0]:
                names.update(n for n in dir(value) if n.startswith("_") and not n.startswith("__"))
    return names


def project_files() -> list[Path]:
    files = [
        p
        for folder in ("autograder", "proximal", "tests", "benchmarks")
        for p in (ROOT / folder).rglob("*.py")
    ]
    return [p for p in files + [ROOT / "nbgrader_config.py"] if p != ADAPTER and p != Path(__file__)]


def test_installed_versions_are_the_ones_the_grader_was_written_for():
    """Is every library the grader leans on installed in a version inside SUPPORTED_VERSIONS?"""
    assert unsupported_versions() == []
    assert set(SUPPORTED_VERSIONS) == {"jupyter_client", "nbclient", "nbconvert", "nbgrader"}


def test_no_private_name_of_the_libraries_is_used_outside_the_adapter():
    """Does any module other than autograder/adapters.py touch a private name of the four libraries?"""
    private = library_private_names()
    offenders = []
    for path in project_files():
        text = path.read_text(encoding="utf-8")
        own = set(re.findall(r"(?:def|class)\s+(_\w+)", text)) | set(re.findall(r"\b(_\w+)\s*[:=]", text))
        used = set(re.findall(r"\.(_[a-zA-Z]\w*)", text)) | set(
            re.findall(r"import\s+.*?\b(_[a-zA-Z]\w*)", text)
        )
        for name in sorted((used & private) - own):
            offenders.append(f"{path.relative_to(ROOT)} uses {name}")
    assert offenders == [], "move these into autograder/adapters.py, with a reason and a pinning test"


def test_the_kill_path_still_polls_through_async_wait():
    """Does jupyter_client still wait for a killed kernel through _async_wait(pollinterval=0.1)?"""
    from jupyter_client.manager import AsyncKernelManager, KernelManager

    wait = getattr(AsyncKernelManager, "_async_wait", None)
    assert wait is not None, (
        "jupyter_client no longer has KernelManager._async_wait: QuickPollKernelManager is dead code"
    )
    assert list(inspect.signature(wait).parameters) == ["self", "pollinterval"], (
        "the signature of _async_wait changed: update QuickPollKernelManager"
    )
    assert "self._async_wait(" in inspect.getsource(KernelManager._async_kill_kernel), (
        "killing a kernel no longer waits through _async_wait: QuickPollKernelManager has no effect"
    )
    assert QuickPollKernelManager._async_wait is not AsyncKernelManager._async_wait


def test_the_grader_extends_nbgraders_preprocessor_lists_rather_than_copying_them():
    """Is every default autograde and feedback preprocessor of nbgrader still in the course's lists?"""
    from nbgrader.converters import Autograde, GenerateFeedback
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    configured = {
        "autograde": [
            str(getattr(s, "__name__", s)).rsplit(".", 1)[-1]
            for s in Autograde(config=config).autograde_preprocessors
        ],
        "feedback": [
            str(getattr(s, "__name__", s)).rsplit(".", 1)[-1]
            for s in GenerateFeedback(config=config).preprocessors
        ],
    }
    defaults = {
        "autograde": Autograde.class_traits()["autograde_preprocessors"].default(),
        "feedback": GenerateFeedback.class_traits()["preprocessors"].default(),
    }
    replaced = {"Execute": "SurvivingExecute"}  # ours subclasses nbgrader's
    for kind, steps in defaults.items():
        for step in steps:
            name = replaced.get(step.__name__, step.__name__)
            assert name in configured[kind], f"nbgrader's default {kind} step {step.__name__} is missing"


async def test_end_of_a_killed_kernel_is_polled_every_hundredth_of_a_second(monkeypatch):
    """Does the manager look for a killed kernel's end every 0.01 s, not on jupyter_client's 0.1 s?"""
    km = QuickPollKernelManager()
    answers = iter([True, True, True, False])
    pauses = []

    async def is_alive():
        return next(answers)

    async def sleep(seconds):
        pauses.append(seconds)

    monkeypatch.setattr(km, "is_alive", is_alive)
    monkeypatch.setattr(asyncio, "sleep", sleep)
    await km._async_wait()
    assert pauses == [0.01, 0.01, 0.01]
