"""Guard cells and the guard audit hook: the ways a notebook tampers with the checking machinery, undone or caught.

Before any notebook code runs, the grader (and ``proximal check``) installs the guard in the
kernel (:func:`install`, from :class:`autograder.execute.SurvivingExecute`, with a key the
notebook never sees). It is a Python *audit hook*, the first and only one, which

* refuses what could watch or rewrite the cells that follow: new audit hooks, ``sys.settrace``,
  ``sys.setprofile`` (``threading.settrace`` too), and replacing the code of IPython's, ipykernel's
  and the guard's own functions (``f.__code__ = ...``); Python 3.11 raises no audit event for
  setting a class attribute, so those are put back instead (next point) and caught during tests;
* at the start of **every** cell (when IPython compiles it), puts back IPython's pristine input
  and AST transformers, event callbacks, compiler and shell methods, import hooks
  (``sys.meta_path``, ``sys.path_hooks``), the attributes of IPython's and ipykernel's classes
  (``type(shell).run_cell = ...``) and the guard modules in ``sys.modules``, and scrubs
  the sources of earlier test cells (hidden tests) from ``In``, the history and ``linecache``;
* at the start of every **test** cell also restores the builtins, removes globals of ``__main__``
  that shadow builtins, re-imports the course's helpers from disk, poisons library functions the
  notebook replaced, and stops threads the notebook started (they could undo all of this);
* proves that a test cell ran **to its end, unchanged**: the grader appends
  ``__import__("sys").audit("proximal.passed", NONCE)`` to each test cell; on that event the hook
  prints ``proximal-passed NONCE HMAC`` where the HMAC, under the key, covers the nonce and the
  exact source IPython compiled. It prints nothing if the machinery, the builtins or the
  thread set changed while the test ran. The grader accepts a test only with the right HMAC.

The hook's functions run with a private copy of the pristine builtins and globals that notebook
code cannot reach by name; the key lives only in the hook's closure (and the means of finding it,
``gc.get_objects``/``get_referrers``, are refused). What stays possible to code in the same
process (``ctypes`` writing memory) is the sandbox's to contain: see docs/instructor.md.

The guard cells (one first, one before every test cell) remain for tools that run notebooks
without the hook: they restore the builtins and the rest as above.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import linecache
import random
import sys
import threading
import types

# This module is imported inside every graded kernel: keep its imports to the standard library
# (the cell-inserting helpers below import nbformat only when the grader calls them).
TAG = "proximal-guard"
HELPER_PACKAGES = ("proximal",)
PASSED_EVENT = "proximal.passed"
PASSED_PREFIX = "proximal-passed"
_pristine: dict | None = None
_installed = False


def snapshot() -> None:
    """Record the builtins as they are before any notebook code runs."""
    global _pristine
    if _pristine is None:
        _pristine = dict(vars(builtins))


def restore() -> None:
    """Undo tampering before a test cell runs (see the module docstring)."""
    if _installed:  # the hook does all of this itself when the test cell starts
        return
    if _pristine is not None:
        _restore_builtins(_pristine)
    for name in [n for n in sys.modules if n.split(".")[0] in HELPER_PACKAGES]:
        del sys.modules[name]
    _poison_replaced_functions()
    _reset_ipython()


def _restore_builtins(pristine: dict) -> None:
    table = vars(builtins)
    for name in [n for n in table if n not in pristine]:
        del table[name]
    table.update(pristine)


def proof(key: str, nonce: str, source: str) -> str:
    """What the hook prints when the test cell ``source`` (as compiled) reached its end."""
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
    return hmac.new(key.encode(), f"{nonce}:{digest}".encode(), "sha256").hexdigest()


def passed_line(nonce: str) -> str:
    """The line the grader appends to a test cell."""
    return f'__import__("sys").audit({PASSED_EVENT!r}, {nonce!r})'


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


# ---------------------------------------------------------------- the audit hook


def install(key: str) -> None:
    """Install the guard audit hook (once per kernel, before any notebook code); ``key`` signs proofs."""
    global _installed
    if _installed:
        return
    _installed = True
    snapshot()
    # Every function the hook calls is rebound to a private namespace holding the pristine
    # builtins: notebook code that edits this module's globals or the builtins cannot reach it.
    private: dict = {"__builtins__": dict(vars(builtins)), "__name__": __name__}
    for name, value in list(globals().items()):
        if type(value) is types.FunctionType and value.__module__ == __name__:
            private[name] = types.FunctionType(
                value.__code__, private, value.__name__, value.__defaults__, value.__closure__
            )
        elif name not in ("_pristine", "_installed"):
            private[name] = value
    private["_make_hook"](private["_State"](key))


class _State:
    """What the hook knows: the pristine machinery, the key, the cell being run."""

    def __init__(self, key: str) -> None:
        from IPython import get_ipython

        self.key = key
        self.builtins = dict(vars(builtins))
        self.shell = get_ipython()
        self.stdout = sys.stdout
        self.meta_path = list(sys.meta_path)
        self.path_hooks = list(sys.path_hooks)
        self.modules = {
            n: m for n, m in sys.modules.items() if n == "autograder" or n.startswith("autograder.")
        }
        self.threads = {t.ident for t in threading.enumerate()}
        self.source = ""  # the source IPython compiled for the current cell
        self.test = False  # is the current cell a test cell (it carries the passed line)?
        self.tampered = ""
        self.restoring = False  # the hook's own repairs are not refused
        self.test_sources: list[str] = []  # test cells run so far: scrubbed from the history
        shell = self.shell
        self.attrs: dict = {}
        self.lists: dict = {}
        self.classes: dict = {}
        if shell is None:
            return
        for name in (
            "compile",
            "input_transformer_manager",
            "events",
            "displayhook",
            "display_pub",
        ):
            self.attrs[name] = getattr(shell, name, None)
        self.shell_callables = {n: v for n, v in vars(shell).items() if callable(v)}
        manager = shell.input_transformer_manager
        self.lists = {
            (manager, "cleanup_transforms"): list(manager.cleanup_transforms),
            (manager, "line_transforms"): list(manager.line_transforms),
            (manager, "token_transformers"): list(manager.token_transformers),
            (shell, "input_transformers_post"): list(shell.input_transformers_post),
            (shell, "ast_transformers"): list(shell.ast_transformers),
        }
        self.callbacks = {event: list(cbs) for event, cbs in shell.events.callbacks.items()}
        kernel = getattr(shell, "kernel", None)
        roots = [type(shell), type(manager), type(shell.compile), type(shell.events), type(self.stdout)]
        roots += [type(kernel)] if kernel is not None else []
        for root in roots:
            for cls in root.__mro__:
                module = getattr(cls, "__module__", "") or ""
                if module.split(".")[0] in (
                    "IPython",
                    "ipykernel",
                    "traitlets",
                    "jupyter_client",
                    "autograder",
                ):
                    self.classes[cls] = dict(vars(cls))
        self.codes = {
            f: f.__code__
            for members in self.classes.values()
            for f in members.values()
            if type(f) is types.FunctionType
        }
        for module in self.modules.values():
            for value in vars(module).values():
                if type(value) is types.FunctionType:
                    self.codes[value] = value.__code__


def _only_prngs(objects: object) -> bool:
    """Are these the arguments of a ``gc.get_referrers`` that can only find who holds a PRNG?

    Hypothesis calls ``gc.get_referrers(r)`` once per thread on a ``random.Random`` it registers.
    The guard holds no PRNG, so the holders of one cannot lead to the key.
    ``type()``, unlike ``isinstance``, cannot be fooled by a ``__class__`` property.
    """
    return (
        type(objects) is tuple
        and len(objects) > 0
        and all(issubclass(type(o), random.Random) for o in objects)
    )


def _make_hook(state: _State) -> None:
    def hook(event: str, args: tuple) -> None:
        if event == "sys.addaudithook":
            raise RuntimeError("no audit hooks while grading")
        if event in ("sys.settrace", "sys.setprofile"):
            raise RuntimeError(f"{event} is not allowed while grading")
        if event == "gc.get_referrers" and args and _only_prngs(args[0]):
            pass  # Hypothesis asks whether a PRNG it registers is referenced (register_random)
        elif event in ("gc.get_objects", "gc.get_referrers", "gc.get_referents"):
            raise RuntimeError(f"{event} is not allowed while grading")
        if event in ("object.__setattr__", "object.__delattr__") and not state.restoring and args:
            if _protected(state, args[0], args[1] if len(args) > 1 else ""):
                raise RuntimeError("the grading machinery cannot be changed")
        if event == "compile" and len(args) == 2 and isinstance(args[0], (str, bytes)):
            filename = args[1] if isinstance(args[1], str) else ""
            if _notebook_file(filename):
                state.restoring = True
                try:
                    _cell_starts(
                        state, args[0] if isinstance(args[0], str) else args[0].decode("utf-8", "replace")
                    )
                finally:
                    state.restoring = False
        elif event == "exec" and state.test and not state.tampered:
            state.tampered = _changed(state)
        elif event == PASSED_EVENT and state.test:
            nonce = str(args[0]) if args else ""
            state.tampered = state.tampered or _changed(state)
            if not state.tampered:
                state.stdout.write(f"\n{PASSED_PREFIX} {nonce} {proof(state.key, nonce, state.source)}\n")
                state.stdout.flush()
            state.test = False

    sys.addaudithook(hook)


def _protected(state: _State, target: object, name: object) -> bool:
    """Would setting ``name`` on ``target`` change the grading machinery?"""
    if isinstance(target, type):
        return target in state.classes
    if type(target) is types.FunctionType and name == "__code__":
        return target in state.codes
    return False


def _cell_starts(state: _State, source: str) -> None:
    """A notebook cell is about to run (IPython compiles it): put the machinery back."""
    shell = state.shell
    state.source = source
    state.test = f"{PASSED_EVENT!r}" in source or f'"{PASSED_EVENT}"' in source
    state.tampered = ""
    # import hooks the notebook added go (a library's own may stay)
    sys.meta_path[:] = [f for f in sys.meta_path if f in state.meta_path or not _notebook_object(f)]
    sys.path_hooks[:] = [h for h in sys.path_hooks if h in state.path_hooks or not _notebook_object(h)]
    sys.modules.update(state.modules)
    for cls, members in state.classes.items():
        current = vars(cls)
        for name, value in members.items():
            if current.get(name, _MISSING) is not value:
                type.__setattr__(cls, name, value)
        for name in [n for n in current if n not in members and _notebook_object(current[n])]:
            type.__delattr__(cls, name)
    for function, code in state.codes.items():
        if function.__code__ is not code:
            function.__code__ = code
    if shell is None:
        return
    for name, value in state.attrs.items():
        if getattr(shell, name, None) is not value:
            setattr(shell, name, value)
    for name in [n for n, v in vars(shell).items() if callable(v) and n not in state.shell_callables]:
        delattr(shell, name)
    for name, value in state.shell_callables.items():
        if vars(shell).get(name) is not value:
            setattr(shell, name, value)
    for (owner, name), pristine in state.lists.items():
        current = getattr(owner, name)
        if current != pristine:
            current[:] = pristine
    shell.set_custom_exc((), None)
    for event, callbacks in shell.events.callbacks.items():
        callbacks[:] = state.callbacks.get(event, [])
    _scrub_history(state)
    if state.test:
        state.test_sources.append(source)
        _restore_builtins(state.builtins)
        namespace = shell.user_ns
        for name in [n for n, v in namespace.items() if n in state.builtins and v is not state.builtins[n]]:
            if callable(namespace[name]) and not name.startswith("_"):
                del namespace[name]
        for name in [n for n in sys.modules if n.split(".")[0] in HELPER_PACKAGES]:
            del sys.modules[name]
        _poison_replaced_functions()
        _stop_notebook_threads(state)


_MISSING = object()


def _notebook_object(obj: object) -> bool:
    """Was ``obj`` (a function, a class or an instance of one) written in a notebook cell?"""
    if _from_notebook(obj) or _from_notebook(getattr(obj, "__func__", None)):
        return True
    cls = obj if isinstance(obj, type) else type(obj)
    return cls.__module__ == "__main__" and any(_from_notebook(v) for v in vars(cls).values())


def _scrub_history(state: _State) -> None:
    """Remove the key and the sources of test cells already run (hidden tests) from what later cells can read."""
    shell = state.shell
    secret = {text.strip() for text in state.test_sources}

    def hidden(text: object) -> bool:
        return isinstance(text, str) and bool(text.strip()) and (state.key in text or text.strip() in secret)

    for entry in [k for k, v in linecache.cache.items() if len(v) > 2 and hidden("".join(v[2]))]:
        del linecache.cache[entry]
    history = shell.history_manager
    for table in (history.input_hist_parsed, history.input_hist_raw):
        for index, text in enumerate(table):
            if hidden(text):
                table[index] = ""
    namespace = shell.user_ns
    for name in [
        n for n in namespace if n.startswith("_i") and (n in ("_i", "_ii", "_iii") or n[2:].isdigit())
    ]:
        if hidden(namespace[name]):
            namespace[name] = ""
    result = getattr(shell, "last_execution_result", None)
    if hidden(getattr(getattr(result, "info", None), "raw_cell", None)):
        shell.last_execution_result = None


def _changed(state: _State) -> str:
    """What of the machinery changed since the test cell started ('' if nothing)."""
    table = vars(builtins)
    for name, value in state.builtins.items():
        if table.get(name, _MISSING) is not value and name != "_":
            return f"builtins.{name}"
    for cls, members in state.classes.items():
        current = vars(cls)
        for name, value in members.items():
            if current.get(name, _MISSING) is not value:
                return f"{cls.__name__}.{name}"
    shell = state.shell
    if shell is not None:
        for name, value in state.attrs.items():
            if getattr(shell, name, None) is not value:
                return f"shell.{name}"
        for (owner, name), pristine in state.lists.items():
            if getattr(owner, name) != pristine:
                return name
    return ""


def _stop_notebook_threads(state: _State) -> None:
    """Raise SystemExit in every Python thread the notebook started (best effort: not in C calls)."""
    for thread in threading.enumerate():
        if thread.ident in state.threads or thread is threading.current_thread():
            continue
        run = getattr(thread, "_target", None) or type(thread).run
        if _from_notebook(run) or _from_notebook(getattr(run, "__func__", None)):
            import ctypes

            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(thread.ident or 0), ctypes.py_object(SystemExit)
            )


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
