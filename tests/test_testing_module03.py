"""The quick flaky command that module 03's run_with_retry tests run (proximal.helpers.testing)."""

from __future__ import annotations

import subprocess

import pytest

from proximal.helpers.flaky import FlakyCommand
from proximal.helpers.testing import QuickFlakyCommand

PLANS = [[], ["fail", "fail"], ["fail:2", "ok", "fail:7", "fail"], ["ok", "fail:3"]]


@pytest.mark.parametrize("plan", PLANS, ids=lambda plan: ",".join(plan) or "empty")
def test_quick_command_runs_a_plan_as_the_flaky_command_does(plan, tmp_path):
    """Run after run, does the shell version give FlakyCommand's exit status, output and run count?"""
    (tmp_path / "slow").mkdir()
    (tmp_path / "quick").mkdir()
    slow, quick = FlakyCommand(tmp_path / "slow", plan), QuickFlakyCommand(tmp_path / "quick", plan)
    for _ in range(len(plan) + 2):
        want = subprocess.run(slow.args, capture_output=True, text=True, timeout=30)
        got = subprocess.run(quick.args, capture_output=True, text=True, timeout=30)
        assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout, want.stderr)
        assert quick.runs == slow.runs


def test_a_hung_run_is_killed_by_the_timeout_and_counted(tmp_path):
    """Does a 'hang' step outlast a short timeout, get killed with its run (no sleep left behind), and count?"""
    cmd = QuickFlakyCommand(tmp_path, ["hang", "fail"], hang_seconds=29.75)
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(cmd.args, capture_output=True, text=True, timeout=0.25)
    assert cmd.runs == 1
    left = subprocess.run(["pgrep", "-f", "^sleep 29.75$"], capture_output=True, text=True).stdout.split()
    assert left == [], f"sleep processes left: {left}"
    assert subprocess.run(cmd.args, capture_output=True, text=True, timeout=30).returncode == 1
    done = subprocess.run(cmd.args, capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout, cmd.runs) == (0, "ok: run 3\n", 3)


def test_a_plan_step_the_flaky_command_refuses_is_refused(tmp_path):
    """Is a step outside FlakyCommand's plan language (which would reach the shell) refused at once?"""
    with pytest.raises(ValueError):
        QuickFlakyCommand(tmp_path, ["ok; rm -rf /"])
