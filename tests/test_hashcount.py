"""Tests for proximal.helpers.hashcount and testing.run_counting_hashes: counting a script's SHA-256 digests."""

from __future__ import annotations

from proximal.helpers.testing import run_counting_hashes

SCRIPT = """
import hashlib, sys
from hashlib import sha256
hashlib.sha256(b"\\x00leaf").digest()
sha256(b"\\x01" + b"x" * 64).hexdigest()
h = hashlib.new("sha256"); h.update(b"plain"); h.digest(); h.digest()
print("args", sys.argv[1:])
sys.exit(3)
"""


def test_counts_leaf_node_and_other_digests(tmp_path):
    """Are digests counted once each, by their first byte, and are exit status and output passed on?"""
    script = tmp_path / "s.py"
    script.write_text(SCRIPT)
    done, counts = run_counting_hashes(script, ["a", "b"], cwd=tmp_path)
    assert done.returncode == 3 and done.stdout == "args ['a', 'b']\n"
    assert counts == {"leaf": 1, "node": 1, "other": 1}


def test_a_crashing_script_exits_1(tmp_path):
    """Does a script that raises give exit status 1 and a traceback, with the counts so far?"""
    script = tmp_path / "s.py"
    script.write_text("import hashlib\nhashlib.sha256(b'\\x00').digest()\nraise NotImplementedError()\n")
    done, counts = run_counting_hashes(script, [], cwd=tmp_path)
    assert done.returncode == 1 and "NotImplementedError" in done.stderr
    assert counts["leaf"] == 1


def test_in_process_run_counts_like_the_command(tmp_path):
    """Does the in-process run give the same exit status, output and counts as the command, and restore argv?"""
    import sys

    from proximal.helpers.testing import run_counting_hashes_here

    script = tmp_path / "s.py"
    script.write_text(SCRIPT)
    argv = list(sys.argv)
    done, counts = run_counting_hashes_here(script, ["a", "b"], cwd=tmp_path)
    assert done.returncode == 3 and done.stdout == "args ['a', 'b']\n"
    assert counts == {"leaf": 1, "node": 1, "other": 1}
    assert sys.argv == argv


def test_in_process_run_uses_the_folder_and_reports_crashes(tmp_path):
    """Does the in-process run work in the folder given, keep stderr, and turn an exception into status 1?"""
    from proximal.helpers.testing import run_counting_hashes_here

    script = tmp_path / "s.py"
    script.write_text(
        "import os, sys\nprint(os.path.basename(os.getcwd()))\nprint('oops', file=sys.stderr)\n"
    )
    (tmp_path / "here").mkdir()
    done, _ = run_counting_hashes_here(script, [], cwd=tmp_path / "here")
    assert done.returncode == 0 and done.stdout == "here\n" and done.stderr == "oops\n"
    script.write_text("import hashlib\nhashlib.sha256(b'\\x00').digest()\nraise KeyError('x')\n")
    done, counts = run_counting_hashes_here(script, [])
    assert done.returncode == 1 and "KeyError" in done.stderr and counts["leaf"] == 1
