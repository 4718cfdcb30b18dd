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
