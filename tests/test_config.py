"""Configuration as nbgrader does it: the engine's settings, in nbgrader_config.py and on the command line."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from traitlets.config import Configurable

import autograder
from autograder.nbgrader_env import course_config
from autograder.sandbox import SandboxLimits
from proximal.cli import config_overrides, main


def engine_configurables() -> list[type[Configurable]]:
    classes = []
    for info in pkgutil.iter_modules(autograder.__path__):
        module = importlib.import_module(f"autograder.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Configurable) and cls.__module__ == module.__name__:
                classes.append(cls)
    return classes


def test_every_setting_of_the_engine_says_what_it_does():
    """Does each configurable trait the engine defines carry `help=` text (as nbgrader's do)?"""
    classes = engine_configurables()
    assert {"SandboxLimits", "GradeBatch", "SurvivingExecute", "CapOutputs"} <= {c.__name__ for c in classes}
    silent = [
        f"{cls.__name__}.{name}"
        for cls in classes
        for name, trait in cls.class_own_traits(config=True).items()
        if not (trait.help or "").strip()
    ]
    assert silent == []


def test_sandbox_limits_come_from_the_course_config(tmp_path):
    """Does `c.SandboxLimits.*` in nbgrader_config.py set the limits the grader uses?"""
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.SandboxLimits.resident_bytes = 2**30\nc.SandboxLimits.notebook_seconds = 120\n"
    )
    limits = SandboxLimits(config=course_config(tmp_path))
    assert (limits.resident_bytes, limits.notebook_seconds) == (2**30, 120)
    assert limits.memory_bytes == SandboxLimits().memory_bytes  # what is not set keeps its default


def test_command_line_settings_are_taken_as_nbgrader_takes_them(tmp_path):
    """Does `--SandboxLimits.resident_bytes=N` leave the other arguments alone and override the file?"""
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.SandboxLimits.resident_bytes = 2**30\n")
    rest, overrides = config_overrides(
        ["grade", "01-asyncio", "--SandboxLimits.resident_bytes=2147483648", "--jobs", "2"]
    )
    assert rest == ["grade", "01-asyncio", "--jobs", "2"]
    assert SandboxLimits(config=course_config(tmp_path, **overrides)).resident_bytes == 2**31


def test_a_setting_given_to_another_command_is_refused(capsys):
    """Is `--Class.trait=value` on a command that does not take it an error, not silently ignored?"""
    assert main(["lint", "--SandboxLimits.resident_bytes=1"]) == 2
    assert "apply to `proximal grade` only" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["lots", "-"])
def test_a_bad_limit_is_a_clear_error(tmp_path, value):
    """Does a limit that is not a number fail with traitlets' message naming the setting?"""
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    _, overrides = config_overrides([f"--SandboxLimits.memory_bytes={value}"])
    with pytest.raises(Exception, match="memory_bytes"):
        SandboxLimits(config=course_config(tmp_path, **overrides)).memory_bytes  # noqa: B018
