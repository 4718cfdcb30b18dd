"""Guard cells: undo the usual ways a notebook tampers with the checking machinery.

The grader (and ``proximal check``) inserts a guard cell at the top of the notebook, which records
the pristine builtins, and one before every test cell, which

* restores the builtins (``builtins.type = ...``, ``len = ...`` and friends),
* drops the course's helper modules from ``sys.modules`` so tests import them afresh from disk,
* poisons library functions that notebook code replaced (``torch.testing.assert_close = ...``):
  calling one then fails the test instead of passing it,
* removes IPython hooks that could hide a failing test (custom exception handlers, event
  callbacks and shell methods defined by the notebook).

Code running in the same process can always dig deeper; this closes the easy doors, and the
sandbox (``autograder.sandbox``) limits what such code can reach.
"""

from __future__ import annotations

import builtins
import sys
import types

# This module is imported inside every graded kernel: keep its imports to the standard library
# (the cell-inserting helpers below import nbformat only when the grader calls them).
TAG = "proximal-guard"
HELPER_PACKAGES = ("proximal",)
_pristine: dict | None = None


def snapshot() -> None:
    """Record the builtins as they are before any notebook code runs."""
    global _pristine
    if _pristine is None:
        _pristine = dict(vars(builtins))


def restore() -> None:
    """Undo tampering before a test cell runs (see the module docstring)."""
    if _pristine is not None:
        table = vars(builtins)
        for name in [n for n in table if n not in _pristine]:
            del table[name]
        table.update(_pristine)
    for name in [n for n in sys.modules if n.split(".")[0] in HELPER_PACKAGES]:
        del sys.modules[name]
    _poison_replaced_functions()
    _reset_ipython()


def _from_notebook(obj: object) -> bool:
    code = getattr(obj, "__code__", None)
    return _notebook_file(getattr(code, "co_filename", "") or "")


def _notebook_file(filename: str) -> bool:
    """Is this the file name IPython gives code run in a notebook cell?"""
    return filename.startswith("<ipython-input") or "ipykernel_" in filename


_Function, _Method = types.FunctionType, types.MethodType


def _poison_replaced_functions() -> None:
    main = sys.modules.get("__main__")
    for module_name, module in list(sys.modules.items()):
        # the notebook's own namespace may be registered under other names too (torch adds __mp_main__)
        if module is None or module is main or module_name.split(".")[0] in HELPER_PACKAGES:
            continue
        try:
            items = list(vars(module).items())
        except TypeError:
            continue
        # Runs over every module (over a thousand with torch) before every test cell, so the
        # loop is kept tight: only functions and bound methods carry a notebook's __code__.
        for attr, value in items:
            kind = type(value)
            if kind is _Function:
                filename = value.__code__.co_filename
            elif kind is _Method:
                filename = getattr(getattr(value.__func__, "__code__", None), "co_filename", "")
            else:
                continue
            if _notebook_file(filename):
                setattr(module, attr, _poisoned(f"{module_name}.{attr}"))


def _poisoned(name: str):
    def poisoned(*args, **kwargs):
        raise AssertionError(f"{name} was replaced by code in this notebook, so the tests cannot trust it")

    return poisoned


def _reset_ipython() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    shell.set_custom_exc((), None)
    for callbacks in shell.events.callbacks.values():
        callbacks[:] = [cb for cb in callbacks if not _from_notebook(cb)]
    for name in [n for n, v in vars(shell).items() if callable(v) and _from_notebook(v)]:
        delattr(shell, name)


# ---------------------------------------------------------------- inserting the cells


def _guard_cell(call: str):
    from nbformat.v4 import new_code_cell

    cell = new_code_cell(f"import autograder.guard\nautograder.guard.{call}()")
    cell.metadata["tags"] = [TAG]
    return cell


def insert_guards(nb):
    """A guard cell first, and one before every test cell (in place; returns ``nb``)."""
    from autograder.notebooks import is_test_cell

    cells = [_guard_cell("snapshot")]
    for cell in nb.cells:
        if is_test_cell(cell):
            cells.append(_guard_cell("restore"))
        cells.append(cell)
    for index, cell in enumerate(cells):
        cell["id"] = cell.get("id") or f"guard-{index}"
    nb.cells = cells
    return nb


def remove_guards(nb):
    nb.cells = [c for c in nb.cells if TAG not in c.get("metadata", {}).get("tags", [])]
    return nb
