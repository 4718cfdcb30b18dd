"""Tests for proximal.helpers.commands: which Python a notebook starts scripts with."""

from __future__ import annotations

import sys

from proximal.helpers import commands


def test_python_executable_prefers_sys_executable():
    """Is the course's own Python used when this user may run it?"""
    assert commands.python_executable() == sys.executable


def test_python_executable_falls_back_to_path(monkeypatch):
    """When sys.executable may not be run, is python3 from PATH used instead?"""
    monkeypatch.setattr(commands.os, "access", lambda path, mode: False)
    monkeypatch.setattr(commands.shutil, "which", lambda name: "/usr/bin/" + name)
    assert commands.python_executable() == "/usr/bin/python3"
