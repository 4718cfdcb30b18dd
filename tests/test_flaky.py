"""Tests for proximal.helpers.flaky: the scripted flaky command of module 03."""

from __future__ import annotations

import subprocess

import pytest

from proximal.helpers.flaky import FlakyCommand, main, parse_plan


def _run(cmd: FlakyCommand, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(cmd.args, capture_output=True, text=True, timeout=timeout)


def test_runs_follow_the_plan_then_succeed(tmp_path):
    """Does run k follow the k-th step of the plan, and every run after the plan succeed?"""
    cmd = FlakyCommand(tmp_path, "fail,fail:3")
    first, second, third = _run(cmd), _run(cmd), _run(cmd)
    assert (first.returncode, second.returncode, third.returncode) == (1, 3, 0)
    assert "run 1 failed" in first.stderr and first.stdout == ""
    assert third.stdout == "ok: run 3\n"
    assert cmd.runs == 3


def test_hang_sleeps_past_a_timeout(tmp_path):
    """Does a 'hang' step outlast a caller's timeout, and does the next run then succeed?"""
    cmd = FlakyCommand(tmp_path, ["hang"], hang_seconds=30)
    with pytest.raises(subprocess.TimeoutExpired):
        _run(cmd, timeout=1.0)
    assert cmd.runs == 1
    assert _run(cmd).stdout == "ok: run 2\n"


def test_main_in_process_and_reset(tmp_path, capsys):
    """Does main() count runs in the state file, and does reset() start the plan again?"""
    cmd = FlakyCommand(tmp_path, ["fail", "ok"])
    argv = cmd.args[2:]
    assert main(argv) == 1 and main(argv) == 0
    assert capsys.readouterr().out == "ok: run 2\n"
    cmd.reset()
    assert cmd.runs == 0 and main(argv) == 1


def test_bad_plans_are_refused():
    """Are unknown steps and a zero exit status for a failure refused?"""
    assert parse_plan(" fail, hang ,ok,") == ["fail", "hang", "ok"]
    for bad in ("boom", "fail:0", "ok:2", "fail:x"):
        with pytest.raises(ValueError):
            parse_plan(bad)


def test_the_script_runs_without_the_course_package(tmp_path):
    """Does the command work when started as a plain file (what FlakyCommand.args does)?"""
    cmd = FlakyCommand(tmp_path, ["fail"])
    assert cmd.args[1].endswith("flaky.py")
    assert _run(cmd).returncode == 1 and _run(cmd).stdout == "ok: run 2\n"
