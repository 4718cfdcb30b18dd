"""Run a Python script and count the SHA-256 digests it computes, by the first byte hashed (a test helper).

Module 04's stretch tests use it to see that a learner's ``merkle_sample.py`` really builds a Merkle
tree: RFC 6962 leaf hashes start with the byte ``0x00``, inner-node hashes with ``0x01``::

    python hashcount.py COUNTS.json merkle_sample.py a.csv b.csv

runs ``merkle_sample.py a.csv b.csv`` with ``hashlib.sha256`` (and ``hashlib.new("sha256")``) replaced by
a counting wrapper, writes ``{"leaf": ..., "node": ..., "other": ...}`` to ``COUNTS.json`` and exits
with the script's exit status. Standard library only: it runs as a plain file, under any Python 3.

Importing this module has no side effects.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import runpy
import sys
import traceback
from collections.abc import Iterator


class _Counting:
    """A sha256 object that reports the first byte it was fed when its digest is first asked for."""

    def __init__(self, real, counts: dict[str, int], data: bytes = b"") -> None:
        self._h, self._counts, self._counted = real(), counts, False
        self._first: bytes | None = None
        if data:
            self.update(data)

    def update(self, data: bytes) -> None:
        if self._first is None and len(data):
            self._first = bytes(data[:1])
        self._h.update(data)

    def _count(self) -> None:
        if not self._counted:
            self._counted = True
            kind = {b"\x00": "leaf", b"\x01": "node"}.get(self._first or b"", "other")
            self._counts[kind] += 1

    def digest(self) -> bytes:
        self._count()
        return self._h.digest()

    def hexdigest(self) -> str:
        self._count()
        return self._h.hexdigest()

    def __getattr__(self, name: str):  # name, digest_size, block_size, copy
        return getattr(self._h, name)


@contextlib.contextmanager
def counting_sha256(counts: dict[str, int]) -> Iterator[None]:
    """While the block runs, ``hashlib.sha256`` and ``hashlib.new("sha256")`` count digests into ``counts``.

    ``counts`` needs the keys ``"leaf"``, ``"node"`` and ``"other"``; the real functions are put back after.
    """
    real_sha256, real_new = hashlib.sha256, hashlib.new

    def sha256(data: bytes = b"", **kwargs) -> _Counting:
        return _Counting(real_sha256, counts, data)

    def new(name: str, data: bytes = b"", **kwargs):
        if name.lower().replace("-", "") == "sha256":
            return _Counting(real_sha256, counts, data)
        return real_new(name, data, **kwargs)

    # The stand-ins return a duck-typed _Counting rather than hashlib's HASH (which cannot be
    # subclassed), so they are installed with setattr: a deliberate monkeypatch, not a typed assignment.
    setattr(hashlib, "sha256", sha256)  # noqa: B010
    setattr(hashlib, "new", new)  # noqa: B010
    try:
        yield
    finally:
        hashlib.sha256, hashlib.new = real_sha256, real_new


def run_script(script: str, args: list[str], counts: dict[str, int]) -> int:
    """Run ``script`` as ``__main__`` with ``args``, counting digests into ``counts``; its exit status.

    As ``python script args`` would: ``sys.exit(n)`` gives ``n`` (``None``: 0; a message: 1, printed
    on stderr), an exception 1 and its traceback on stderr. ``sys.argv`` is put back afterwards.
    An interrupt (``KeyboardInterrupt``) is not caught: a kernel's cell timeout must still stop it.
    """
    saved_argv, sys.argv = sys.argv, [script, *args]
    try:
        with counting_sha256(counts):
            runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except Exception:  # a crashing script: status 1 and its traceback, as python would give
        traceback.print_exc()
        return 1
    finally:
        sys.argv = saved_argv
    return 0


def main(argv: list[str]) -> int:
    """Run ``argv[1]`` with arguments ``argv[2:]``, counting hashes into the JSON file ``argv[0]``."""
    out, script, *args = argv
    counts = {"leaf": 0, "node": 0, "other": 0}
    try:
        return run_script(script, args, counts)
    finally:
        with open(out, "w") as handle:
            json.dump(counts, handle)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
